//! The grader's reports: one result per case, written for a person or for an autograder.
//!
//! - `human`: one line per case that ran (`ok`, `FAIL` with the reason), a line counting the
//!   skipped ones, and `N passed, N failed`;
//! - `json`: `{"stage", "passed", "failed", "skipped", "cases": [{"name", "stage", "outcome",
//!   "seconds", "message"}]}`;
//! - `junit`: JUnit XML as Jenkins, GitLab and GitHub test reporters read it (`<testsuites>`, one
//!   `<testsuite>`, a `<testcase>` per case with `<failure>` or `<skipped>`);
//! - `tap`: TAP version 13 (`ok N - name`, `not ok N - name` with a YAML block, `# SKIP`);
//! - Gradescope's `results.json` (<https://gradescope-autograders.readthedocs.io/en/latest/specs/>):
//!   a test per case that ran with `score`, `max_score`, `name`, `output`, `visibility`, and the
//!   overall `score`. A case is worth the weight of the stage that brings it (1 unless
//!   `--weight STAGE=POINTS` says otherwise); a skipped case is not listed and counts nothing.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use serde_json::{Value, json};

/// What happened to one case.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    /// The case ran and passed.
    Passed,
    /// The case ran and failed; the message says what was sent, what came back and the
    /// server's last stderr lines.
    Failed(String),
    /// The case did not run for this stage; the text says why (`stage 05 brings it`).
    Skipped(String),
}

/// One case's result, as every report format sees it.
#[derive(Debug, Clone)]
pub struct CaseResult {
    /// The case's full name, `s03::full_queue_503`.
    pub name: String,
    /// The stage that brings the case (its `since`, or its `only`).
    pub stage: u8,
    /// Passed, failed or skipped.
    pub outcome: Outcome,
    /// How long the case took, seconds (0 when skipped).
    pub seconds: f64,
}

/// A whole run: the stage graded and every case's result, in list order.
#[derive(Debug, Clone)]
pub struct Run {
    /// The stage the server was graded as.
    pub stage: u8,
    /// Every selected case, skipped ones included.
    pub results: Vec<CaseResult>,
    /// Wall-clock time of the run, seconds.
    pub seconds: f64,
}

impl Run {
    /// How many cases passed, failed and were skipped.
    pub fn counts(&self) -> (usize, usize, usize) {
        let mut counts = (0, 0, 0);
        for result in &self.results {
            match result.outcome {
                Outcome::Passed => counts.0 += 1,
                Outcome::Failed(_) => counts.1 += 1,
                Outcome::Skipped(_) => counts.2 += 1,
            }
        }
        counts
    }
}

/// Points per case, by the stage that brings it: `--weight 3=2` makes every case stage 03
/// brings worth 2 points. Stages not named are worth 1.
#[derive(Debug, Clone, Default)]
pub struct Weights(BTreeMap<u8, f64>);

impl Weights {
    /// Parses `STAGE=POINTS` (`3=2`, `03=0.5`) and records it.
    ///
    /// # Errors
    /// A message naming the malformed part.
    pub fn add(&mut self, text: &str) -> Result<(), String> {
        let (stage, points) = text
            .split_once('=')
            .ok_or_else(|| format!("--weight {text:?}: expected STAGE=POINTS, e.g. 3=2"))?;
        let stage = crate::cases::parse_stage(stage)?;
        let points: f64 = points
            .parse()
            .ok()
            .filter(|p: &f64| p.is_finite() && *p >= 0.0)
            .ok_or_else(|| format!("--weight {text:?}: POINTS must be a number ≥ 0"))?;
        self.0.insert(stage, points);
        Ok(())
    }

    /// The points a case brought by `stage` is worth.
    pub fn of(&self, stage: u8) -> f64 {
        self.0.get(&stage).copied().unwrap_or(1.0)
    }
}

/// The human line of one case, or `None` for a skipped case unless `show_skipped`.
pub fn human_line(result: &CaseResult, show_skipped: bool) -> Option<String> {
    let name = &result.name;
    match &result.outcome {
        Outcome::Passed => Some(format!("ok   {name}")),
        // Indent continuation lines so each case still starts a line of its own.
        Outcome::Failed(reason) => Some(format!(
            "FAIL {name} : {}",
            reason.replace('\n', "\n       ")
        )),
        Outcome::Skipped(why) if show_skipped => Some(format!("skip {name} ({why})")),
        Outcome::Skipped(_) => None,
    }
}

/// The closing lines of the human report: skipped count, time, `N passed, N failed`.
pub fn human_summary(run: &Run, show_skipped: bool) -> String {
    let (passed, failed, skipped) = run.counts();
    let mut text = String::new();
    if skipped > 0 && !show_skipped {
        let _ = writeln!(
            text,
            "{skipped} cases skipped (later stages' cases and other stages' limitations; \
             --show-skipped lists them)"
        );
    }
    let _ = write!(
        text,
        "\n(graded as stage {:02} in {:.1} s)\n{passed} passed, {failed} failed",
        run.stage, run.seconds
    );
    text
}

/// The `json` report.
pub fn json(run: &Run) -> Value {
    let (passed, failed, skipped) = run.counts();
    let cases: Vec<Value> = run
        .results
        .iter()
        .map(|result| {
            let (outcome, message) = match &result.outcome {
                Outcome::Passed => ("passed", None),
                Outcome::Failed(message) => ("failed", Some(message.as_str())),
                Outcome::Skipped(why) => ("skipped", Some(why.as_str())),
            };
            json!({
                "name": result.name,
                "stage": result.stage,
                "outcome": outcome,
                "seconds": round_ms(result.seconds),
                "message": message,
            })
        })
        .collect();
    json!({
        "stage": run.stage,
        "passed": passed,
        "failed": failed,
        "skipped": skipped,
        "seconds": round_ms(run.seconds),
        "cases": cases,
    })
}

/// Gradescope's `results.json`: the cases that ran, each worth its stage's weight.
pub fn gradescope(run: &Run, weights: &Weights) -> Value {
    let mut score = 0.0;
    let mut max_score = 0.0;
    let mut tests = Vec::new();
    for result in &run.results {
        let points = weights.of(result.stage);
        let (earned, output) = match &result.outcome {
            Outcome::Passed => (points, "passed".to_string()),
            Outcome::Failed(message) => (0.0, message.clone()),
            Outcome::Skipped(_) => continue,
        };
        score += earned;
        max_score += points;
        tests.push(json!({
            "name": result.name,
            "score": earned,
            "max_score": points,
            "output": output,
            "visibility": "visible",
        }));
    }
    let (passed, failed, _) = run.counts();
    json!({
        "score": score,
        "max_score": max_score,
        "output": format!("graded as stage {:02}: {passed} passed, {failed} failed", run.stage),
        "visibility": "visible",
        "stdout_visibility": "visible",
        "execution_time": round_ms(run.seconds),
        "tests": tests,
    })
}

/// The `junit` report: JUnit XML (the Ant/Surefire dialect every CI test reporter reads).
pub fn junit(run: &Run) -> String {
    let (passed, failed, skipped) = run.counts();
    let total = passed + failed + skipped;
    let suite = format!("conformance.stage{:02}", run.stage);
    let counts = format!(
        "tests=\"{total}\" failures=\"{failed}\" skipped=\"{skipped}\" errors=\"0\" time=\"{:.3}\"",
        run.seconds
    );
    let mut xml = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    let _ = writeln!(xml, "<testsuites name=\"conformance\" {counts}>");
    let _ = writeln!(xml, "  <testsuite name=\"{suite}\" {counts}>");
    for result in &run.results {
        let _ = write!(
            xml,
            "    <testcase classname=\"{suite}\" name=\"{}\" time=\"{:.3}\"",
            xml_escape(&result.name),
            result.seconds
        );
        match &result.outcome {
            Outcome::Passed => xml.push_str("/>\n"),
            Outcome::Failed(message) => {
                let first = message.lines().next().unwrap_or("failed");
                let _ = writeln!(
                    xml,
                    ">\n      <failure message=\"{}\">{}</failure>\n    </testcase>",
                    xml_escape(first),
                    xml_escape(message)
                );
            }
            Outcome::Skipped(why) => {
                let _ = writeln!(
                    xml,
                    ">\n      <skipped message=\"{}\"/>\n    </testcase>",
                    xml_escape(why)
                );
            }
        }
    }
    xml.push_str("  </testsuite>\n</testsuites>\n");
    xml
}

/// The `tap` report: TAP version 13 (<https://testanything.org/tap-version-13-specification.html>).
pub fn tap(run: &Run) -> String {
    let mut text = format!("TAP version 13\n1..{}\n", run.results.len());
    for (index, result) in run.results.iter().enumerate() {
        let number = index + 1;
        // A `#` in a test name would start a directive; the names never have one, but be safe.
        let name = result.name.replace('#', "");
        match &result.outcome {
            Outcome::Passed => {
                let _ = writeln!(text, "ok {number} - {name}");
            }
            Outcome::Failed(message) => {
                let _ = writeln!(text, "not ok {number} - {name}");
                text.push_str("  ---\n  message: |\n");
                for line in message.lines() {
                    let _ = writeln!(text, "    {line}");
                }
                text.push_str("  ...\n");
            }
            Outcome::Skipped(why) => {
                let _ = writeln!(text, "ok {number} - {name} # SKIP {}", why.replace('#', ""));
            }
        }
    }
    text
}

/// Escapes text for an XML attribute or element, dropping characters XML 1.0 cannot hold
/// (control characters other than tab, LF and CR: a failure message may quote raw bytes).
pub fn xml_escape(text: &str) -> String {
    let mut escaped = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => escaped.push_str("&amp;"),
            '<' => escaped.push_str("&lt;"),
            '>' => escaped.push_str("&gt;"),
            '"' => escaped.push_str("&quot;"),
            '\'' => escaped.push_str("&apos;"),
            '\t' | '\n' | '\r' => escaped.push(c),
            c if (c as u32) < 0x20 || c == '\u{FFFE}' || c == '\u{FFFF}' => {
                let _ = write!(escaped, "\\u{{{:x}}}", c as u32);
            }
            c => escaped.push(c),
        }
    }
    escaped
}

fn round_ms(seconds: f64) -> f64 {
    (seconds * 1000.0).round() / 1000.0
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Run {
        Run {
            stage: 3,
            seconds: 1.5,
            results: vec![
                CaseResult {
                    name: "s01::health_ok".into(),
                    stage: 1,
                    outcome: Outcome::Passed,
                    seconds: 0.1,
                },
                CaseResult {
                    name: "s03::full_queue_503".into(),
                    stage: 3,
                    outcome: Outcome::Failed(
                        "expected status 503, got 200 <OK> & \"x\"\nsent: \"GET / \\0\"\u{1}"
                            .into(),
                    ),
                    seconds: 0.2,
                },
                CaseResult {
                    name: "s04::head_has_no_body".into(),
                    stage: 4,
                    outcome: Outcome::Skipped("stage 04 brings it".into()),
                    seconds: 0.0,
                },
            ],
        }
    }

    #[test]
    fn gradescope_has_the_documented_keys_and_weights() {
        let mut weights = Weights::default();
        weights.add("03=2").expect("valid weight");
        let report = gradescope(&sample(), &weights);
        assert_eq!(report["score"], 1.0);
        assert_eq!(report["max_score"], 3.0);
        let tests = report["tests"].as_array().expect("tests is an array");
        assert_eq!(tests.len(), 2, "skipped cases are not listed");
        for test in tests {
            for key in ["name", "score", "max_score", "output", "visibility"] {
                assert!(test.get(key).is_some(), "test lacks {key}: {test}");
            }
        }
        assert_eq!(tests[1]["max_score"], 2.0);
        assert_eq!(tests[1]["score"], 0.0);
    }

    #[test]
    fn weights_reject_nonsense() {
        let mut weights = Weights::default();
        assert!(weights.add("3").is_err());
        assert!(weights.add("9=1").is_err());
        assert!(weights.add("3=-1").is_err());
        assert!(weights.add("3=x").is_err());
        assert!(weights.add("7=0.5").is_ok());
        assert_eq!(weights.of(7), 0.5);
        assert_eq!(weights.of(1), 1.0);
    }

    #[test]
    fn json_counts_and_lists_every_case() {
        let report = json(&sample());
        assert_eq!(report["passed"], 1);
        assert_eq!(report["failed"], 1);
        assert_eq!(report["skipped"], 1);
        assert_eq!(report["cases"][2]["outcome"], "skipped");
    }

    #[test]
    fn junit_escapes_markup_and_control_characters() {
        let xml = junit(&sample());
        assert!(xml.contains("&lt;OK&gt; &amp; &quot;x&quot;"), "{xml}");
        assert!(
            !xml.contains('\u{1}'),
            "a control character would make the XML invalid"
        );
        assert!(xml.contains("<skipped message=\"stage 04 brings it\"/>"));
        assert_eq!(xml.matches("<testcase ").count(), 3);
    }

    #[test]
    fn tap_numbers_every_case_and_marks_skips() {
        let text = tap(&sample());
        assert!(text.starts_with("TAP version 13\n1..3\n"));
        assert!(text.contains("ok 1 - s01::health_ok\n"));
        assert!(text.contains("not ok 2 - s03::full_queue_503\n  ---\n"));
        assert!(text.contains("ok 3 - s04::head_has_no_body # SKIP stage 04 brings it\n"));
    }

    #[test]
    fn human_output_hides_skips_unless_asked() {
        let run = sample();
        assert_eq!(human_line(&run.results[2], false), None);
        assert!(human_line(&run.results[2], true).is_some());
        assert!(human_summary(&run, false).contains("1 cases skipped"));
    }
}
