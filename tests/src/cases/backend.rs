//! Stage 05: `/run-cache-sim` runs the simulator as a child process. The real cache-audit must
//! give the golden numbers through HTTP; fake simulators (shell scripts) check that every way a
//! child can fail becomes a clean JSON error and leaves no process behind (DESIGN
//! "/run-cache-sim").

use std::fs;
use std::net::SocketAddr;
use std::path::Path;
use std::time::{Duration, Instant};

use serde_json::json;

use crate::cases::routing::expect_json_error;
use crate::cases::{expect_exit, expect_health, joined, wait_for_simulations};
use crate::target::Target;
use harness::client::{self, Response};
use harness::scripts::{self, ScriptDir};
use harness::server::{READY_PREFIX, Server};
use harness::wait_until;

/// The original simulator's hits and misses on the bundled traces:
/// `policy,trace,cache_size,requests,hits,misses`.
const GOLDEN_CSV: &str = include_str!("../../../cache-audit/tests/data/cacheaudit-golden.csv");

/// The keys of a success body, in the original's order (DESIGN "/run-cache-sim").
const SUCCESS_KEYS: [&str; 8] = [
    "status",
    "policy",
    "cache_size",
    "trace",
    "hit_rate",
    "hits",
    "misses",
    "runtime_ms",
];

/// The bundled traces a server's `--traces-dir` must hold (DESIGN "/run-cache-sim").
const TRACE_NAMES: [&str; 4] = ["loop", "scan", "skewed", "hot_cold"];

/// How long the server may take to reap a finished child.
const REAP_BOUND: Duration = Duration::from_secs(2);

/// What a successful simulation must report.
struct Expected<'a> {
    policy: &'a str,
    trace: &'a str,
    cache_size: u64,
    hits: u64,
    misses: u64,
}

impl<'a> Expected<'a> {
    /// `policy` on `trace` with `cache_size` entries gives `hits` and `misses`.
    const fn new(policy: &'a str, trace: &'a str, cache_size: u64, hits: u64, misses: u64) -> Self {
        Expected {
            policy,
            trace,
            cache_size,
            hits,
            misses,
        }
    }
}

/// What `/run-cache-sim?policy=lru` reports with the defaults (cache_size 32, trace loop), and
/// what the fake simulators of [`start_with_sleeper`] report for it.
const LRU_DEFAULT: Expected<'static> = Expected::new("lru", "loop", 32, 570, 30);

/// Checks a 200 success body: JSON content type, the keys in the original's order (read from the
/// raw text, since a JSON parser forgets order), and each value (read by parsing).
fn expect_success(response: &Response, expected: &Expected) -> Result<(), String> {
    response.expect_status(200)?;
    response.expect_header_prefix("Content-Type", "application/json")?;
    response.expect_complete()?;
    let text = response.body_text();
    let positions = SUCCESS_KEYS.map(|key| text.find(&format!("\"{key}\"")));
    if positions.contains(&None) || !positions.is_sorted() {
        return Err(format!(
            "expected the keys {SUCCESS_KEYS:?} in this order: {text:?}"
        ));
    }

    let json = response.json()?;
    if json.as_object().map(|object| object.len()) != Some(SUCCESS_KEYS.len()) {
        return Err(format!(
            "expected exactly the keys {SUCCESS_KEYS:?}: {text:?}"
        ));
    }
    // hits / (hits + misses) rounded to 4 decimals (DESIGN "/run-cache-sim").
    let total = (expected.hits + expected.misses).max(1) as f64;
    let rate = (expected.hits as f64 / total * 10_000.0).round() / 10_000.0;
    let want = json!({
        "status": "ok",
        "policy": expected.policy,
        "cache_size": expected.cache_size,
        "trace": expected.trace,
        "hit_rate": rate,
        "hits": expected.hits,
        "misses": expected.misses,
        "runtime_ms": "a non-negative integer",
    });
    let wrong: Vec<String> = SUCCESS_KEYS
        .iter()
        .filter(|&&key| match key {
            "hit_rate" => json[key]
                .as_f64()
                .is_none_or(|actual| (actual - rate).abs() > 1e-9),
            "runtime_ms" => !json[key].is_u64(),
            _ => json[key] != want[key],
        })
        .map(|key| format!("\"{key}\":{}", want[key]))
        .collect();
    if wrong.is_empty() {
        Ok(())
    } else {
        Err(format!("expected {} in {text:?}", wrong.join(", ")))
    }
}

/// `GET /run-cache-sim?policy=lru` answers the original's body with the defaults (cache_size 32,
/// trace loop): hit_rate 0.95, 570 hits, 30 misses (DESIGN "/run-cache-sim").
pub fn sim_lru_default_ok(target: &Target) -> Result<(), String> {
    let server = target.start()?;
    let response = client::get(server.addr(), "/run-cache-sim?policy=lru")?;
    expect_success(&response, &LRU_DEFAULT)
}

/// ARC on hot_cold with 10 entries: hit_rate 0.2667, 220 hits, 605 misses (DESIGN "cache-audit").
pub fn sim_arc_hot_cold_ok(target: &Target) -> Result<(), String> {
    let server = target.start()?;
    let query = "/run-cache-sim?policy=arc&trace=hot_cold&cache_size=10";
    let response = client::get(server.addr(), query)?;
    expect_success(&response, &Expected::new("arc", "hot_cold", 10, 220, 605))
}

/// The cache sizes of the golden file checked through HTTP (every row of it is checked
/// directly against cache-audit by that crate's own tests).
const GOLDEN_SIZES: [u64; 2] = [10, 32];

/// Every policy × trace at cache sizes 10 and 32 matches the golden hits and misses through
/// HTTP (DESIGN "cache-audit": the original's numbers, exactly).
pub fn sim_matches_golden(target: &Target) -> Result<(), String> {
    let server = target.launch().threads(4).start()?;
    let mut checked = 0;
    let mut failures = Vec::new();
    for line in GOLDEN_CSV.lines().skip(1) {
        let fields: Vec<&str> = line.trim().split(',').collect();
        let [policy, trace, size, _requests, hits, misses] = fields[..] else {
            continue;
        };
        let (Ok(cache_size), Ok(hits), Ok(misses)) = (size.parse(), hits.parse(), misses.parse())
        else {
            return Err(format!("unreadable golden row {line:?}"));
        };
        if !GOLDEN_SIZES.contains(&cache_size) {
            continue;
        }
        let query = format!("/run-cache-sim?policy={policy}&trace={trace}&cache_size={cache_size}");
        let expected = Expected::new(policy, trace, cache_size, hits, misses);
        if let Err(e) =
            client::get(server.addr(), &query).and_then(|r| expect_success(&r, &expected))
        {
            failures.push(format!("{query}: {e}"));
        }
        checked += 1;
    }
    if checked == 0 {
        return Err("no golden rows for cache sizes 10 and 32".into());
    }
    if failures.is_empty() {
        Ok(())
    } else {
        Err(format!(
            "{} of {checked} golden rows differ:\n{}",
            failures.len(),
            failures.join("\n")
        ))
    }
}

/// A server whose simulator is a script of this case's; the script directory outlives it.
pub(crate) struct FakeBackend {
    // Fields drop in order: the server is killed before the script directory cleans up.
    pub(crate) server: Server,
    pub(crate) scripts: ScriptDir,
}

/// Starts a server whose `--cache-audit` is a script with body `body`, plus `args`.
fn start_with_script(target: &Target, body: &str, args: &[&str]) -> Result<FakeBackend, String> {
    launch_with_script(target, ScriptDir::new()?, body, args)
}

/// Starts a server whose fake simulator first runs `sleep SECONDS` as `how` says (`"{sleep}"`
/// waits for it, `"{sleep} &"` leaves it in the background, `"setsid {sleep} &"` also in a
/// session of its own), then reports 570 hits and 30 misses. The `sleep` names the script
/// directory in its command line, so that a leftover is found wherever it was re-parented.
pub(crate) fn start_with_sleeper(
    target: &Target,
    seconds: u32,
    how: &str,
    args: &[&str],
) -> Result<FakeBackend, String> {
    let scripts = ScriptDir::new()?;
    let sleep = how.replace("{sleep}", &scripts.sleep_command(seconds)?);
    let body = format!("{sleep}\n{}", scripts::answer_lines(570, 30));
    launch_with_script(target, scripts, &body, args)
}

fn launch_with_script(
    target: &Target,
    scripts: ScriptDir,
    body: &str,
    args: &[&str],
) -> Result<FakeBackend, String> {
    let script = scripts.script("fake-cache-audit.sh", body)?;
    let server = target.launch().cache_audit(script).args(args).start()?;
    Ok(FakeBackend { server, scripts })
}

/// Sends `/run-cache-sim?policy=lru` and returns the response and how long it took.
fn timed_simulation(backend: &FakeBackend) -> Result<(Response, Duration), String> {
    let began = Instant::now();
    let response = client::get(backend.server.addr(), "/run-cache-sim?policy=lru")?;
    Ok((response, began.elapsed()))
}

/// Waits until no process of `scripts` but `server` is left; `why` starts the error, which
/// names each one left.
pub(crate) fn expect_no_leftovers(
    scripts: &ScriptDir,
    server: Option<u32>,
    why: &str,
) -> Result<(), String> {
    let leftovers = scripts.leftovers_after(REAP_BOUND, server);
    if leftovers.is_empty() {
        return Ok(());
    }
    let list: Vec<String> = leftovers
        .iter()
        .map(|p| format!("pid {} `{}`", p.pid, p.cmdline))
        .collect();
    Err(format!("{why}: {}", list.join(", ")))
}

/// Waits until the server has no zombie child (every child it started has been reaped).
fn expect_no_zombie(server: &Server) -> Result<(), String> {
    let mut zombies = Vec::new();
    wait_until(REAP_BOUND, || {
        zombies = server
            .children()
            .into_iter()
            .filter(|child| child.is_zombie())
            .map(|child| child.pid)
            .collect();
        zombies.is_empty()
    });
    if zombies.is_empty() {
        Ok(())
    } else {
        Err(format!(
            "child processes {zombies:?} are still zombies {REAP_BOUND:?} after the response: \
             the server never waited for them"
        ))
    }
}

/// Requests a simulation from a fake backend and checks a JSON error with `status`, no zombie,
/// and a server still serving `/health`.
fn expect_backend_error(backend: &FakeBackend, status: u16) -> Result<Response, String> {
    let addr: SocketAddr = backend.server.addr();
    let response = client::get(addr, "/run-cache-sim?policy=lru")?;
    expect_json_error(&response, status, "")?;
    expect_no_zombie(&backend.server)?;
    expect_health(addr)?;
    Ok(response)
}

/// A simulator that exits with status 3, even after printing a valid answer, is a 500 with a
/// JSON error (DESIGN "/run-cache-sim": exited non-zero).
pub fn backend_exit_status_500(target: &Target) -> Result<(), String> {
    let body = format!("{}exit 3\n", scripts::answer_lines(570, 30));
    let backend = start_with_script(target, &body, &[])?;
    expect_backend_error(&backend, 500).map(|_| ())
}

/// A simulator printing garbage with quotes, backslashes and control characters is a 500 whose
/// JSON body is still valid (the excerpt is escaped, RFC 8259 §7).
pub fn backend_garbage_500(target: &Target) -> Result<(), String> {
    let body = r#"printf 'Trace: "x\\y" \\\n\001\002\033[31m\tHits: "many" \\" \177\n}{"\n'
"#;
    let backend = start_with_script(target, body, &[])?;
    expect_backend_error(&backend, 500).map(|_| ())
}

/// A simulator that prints nothing and exits 0 is a 500 (DESIGN: output that does not parse).
pub fn backend_silent_500(target: &Target) -> Result<(), String> {
    let backend = start_with_script(target, "exit 0\n", &[])?;
    expect_backend_error(&backend, 500).map(|_| ())
}

/// How long a 504 may take with `--backend-timeout 1`: the timeout, the kill and slack.
const TIMEOUT_ANSWER_BOUND: Duration = Duration::from_secs(3);

/// A simulator that runs past `--backend-timeout 1` gets 504 within ~2 s, and afterwards neither
/// it nor the `sleep` it started is still running (DESIGN: killed and reaped).
pub fn backend_timeout_504(target: &Target) -> Result<(), String> {
    let backend = start_with_sleeper(target, 30, "{sleep}", &["--backend-timeout", "1"])?;
    let (response, took) = timed_simulation(&backend)?;
    expect_json_error(&response, 504, "")?;
    if took > TIMEOUT_ANSWER_BOUND {
        return Err(format!(
            "the 504 took {took:?} with --backend-timeout 1 (expected under {TIMEOUT_ANSWER_BOUND:?})"
        ));
    }
    let why = "after the 504 these processes of the timed-out backend still run (kill the \
               child's whole process group, not just the child)";
    expect_no_leftovers(&backend.scripts, Some(backend.server.pid()), why)?;
    expect_no_zombie(&backend.server)?;
    expect_health(backend.server.addr())
}

/// Bytes a flooding simulator writes: 100 MiB.
const FLOOD_BYTES: u64 = 100 * 1024 * 1024;

/// How much the server's peak resident memory may grow while a simulator floods it, KiB: the
/// server keeps 64 KiB of each pipe (DESIGN "/run-cache-sim").
const FLOOD_RSS_GROWTH_KIB: u64 = 16 * 1024;

/// Runs a simulator whose script is `body` (which floods one pipe with [`FLOOD_BYTES`]) and
/// expects a 200 with 123 hits and 456 misses, a bounded peak memory, and no zombie.
fn expect_flood_answered(target: &Target, body: &str, pipe: &str) -> Result<(), String> {
    // A generous timeout: producing 100 MiB through a shell pipe takes a while.
    let backend = start_with_script(target, body, &["--backend-timeout", "60"])?;
    let before = backend.server.status()?.peak_rss_kib;
    let query = "/run-cache-sim?policy=fifo&trace=scan&cache_size=7";
    let response = client::get(backend.server.addr(), query)?;
    expect_success(&response, &Expected::new("fifo", "scan", 7, 123, 456))
        .map_err(|e| format!("with 100 MiB on {pipe}: {e}"))?;
    let growth = backend.server.status()?.peak_rss_kib.saturating_sub(before);
    if growth > FLOOD_RSS_GROWTH_KIB {
        return Err(format!(
            "the server's peak memory grew by {growth} KiB while the child printed 100 MiB on \
             {pipe} (keep a bounded prefix and discard the rest while still reading)"
        ));
    }
    expect_no_zombie(&backend.server)
}

/// A simulator that prints a valid report and then 100 MiB on stdout is a 200 with its numbers:
/// the report is in the kept prefix, the rest is read and thrown away, so the child neither
/// blocks nor fills the server's memory (DESIGN: both pipes drained, bounded to 64 KiB).
pub fn backend_floods_stdout_ok(target: &Target) -> Result<(), String> {
    let body = format!(
        "{}head -c {FLOOD_BYTES} /dev/zero | tr '\\0' x\n",
        scripts::answer_lines(123, 456)
    );
    expect_flood_answered(target, &body, "stdout")
}

/// A simulator that writes 100 MiB to stderr before a valid report is a 200 with its numbers:
/// stdout and stderr are drained together, so a chatty child cannot block (DESIGN).
pub fn backend_floods_stderr_ok(target: &Target) -> Result<(), String> {
    let body = format!(
        "head -c {FLOOD_BYTES} /dev/zero | tr '\\0' e >&2\n{}",
        scripts::answer_lines(123, 456)
    );
    expect_flood_answered(target, &body, "stderr")
}

/// A simulator killed by a signal (here its own SIGKILL, after a valid report) is a 500 with a
/// JSON error, reaped (DESIGN "/run-cache-sim": died by a signal).
pub fn backend_killed_by_signal_500(target: &Target) -> Result<(), String> {
    let body = format!("{}kill -KILL $$\n", scripts::answer_lines(570, 30));
    let backend = start_with_script(target, &body, &[])?;
    expect_backend_error(&backend, 500).map(|_| ())
}

/// Checks that an error body names none of the server's paths and no OS error.
fn expect_no_server_path(response: &Response, paths: &[&Path]) -> Result<(), String> {
    let body = response.body_text();
    for path in paths {
        let path = path.to_string_lossy();
        if body.contains(path.as_ref()) {
            return Err(format!(
                "the {} body quotes the server path {path:?}: {body:?} (say what failed in the \
                 server's terms and log the path)",
                response.status
            ));
        }
    }
    if body.contains("os error") {
        return Err(format!(
            "the {} body quotes an OS error: {body:?} (log it instead)",
            response.status
        ));
    }
    Ok(())
}

/// A simulator that existed at start-up but cannot be executed when a request comes (here it was
/// removed) is a 500 saying the simulator could not be started, without its path or the OS
/// error; the server goes on serving (DESIGN "/run-cache-sim").
pub fn backend_exec_failure_500(target: &Target) -> Result<(), String> {
    let backend = start_with_script(target, &scripts::answer_lines(570, 30), &[])?;
    let script = backend.scripts.path().join("fake-cache-audit.sh");
    fs::remove_file(&script).map_err(|e| format!("cannot remove {}: {e}", script.display()))?;
    let response = expect_backend_error(&backend, 500)?;
    expect_no_server_path(&response, &[backend.scripts.path()])
}

/// No 500 body quotes a server path or an OS error, however the simulator fails: a trace file
/// removed after start-up (the real cache-audit cannot read it), a simulator that names a path on
/// stderr and exits 3, and one whose report quotes a path where a number belongs. The path and the error go to the log
/// (DESIGN "Decided conventions").
pub fn backend_error_bodies_quote_no_path(target: &Target) -> Result<(), String> {
    // The bundled traces, copied so that one can be removed under a running server.
    let traces = ScriptDir::new()?;
    for trace in TRACE_NAMES {
        let name = format!("{trace}.txt");
        fs::copy(target.traces_dir.join(&name), traces.path().join(&name))
            .map_err(|e| format!("cannot copy {name}: {e}"))?;
    }
    let server = target.launch().traces_dir(traces.path()).start()?;
    let loop_trace = traces.path().join("loop.txt");
    fs::remove_file(&loop_trace)
        .map_err(|e| format!("cannot remove {}: {e}", loop_trace.display()))?;
    let response = client::get(server.addr(), "/run-cache-sim?policy=lru&trace=loop")?;
    expect_json_error(&response, 500, "")
        .and_then(|()| expect_no_server_path(&response, &[traces.path()]))
        .map_err(|e| format!("with the trace file removed: {e}"))?;
    expect_no_zombie(&server)?;

    let body = "echo \"cannot open $1: No such file or directory (os error 2)\" >&2\nexit 3\n";
    let backend = start_with_script(target, body, &[])?;
    let response = expect_backend_error(&backend, 500)?;
    expect_no_server_path(&response, &[backend.scripts.path(), &target.traces_dir])
        .map_err(|e| format!("with a simulator that exits 3: {e}"))?;

    // A report whose numbers are paths: the 500 names no field's value.
    let body = "echo \"Hits:        $1\"\nexit 0\n";
    let backend = start_with_script(target, body, &[])?;
    let response = expect_backend_error(&backend, 500)?;
    expect_no_server_path(&response, &[&target.traces_dir])
        .map_err(|e| format!("with a report that prints the trace's path: {e}"))
}

/// How long the setsid-grandchild answer may take with `--backend-timeout 2`: the timeout plus
/// one second (the issue's bound; the server needs only its 100 ms grace).
const GRANDCHILD_ANSWER_BOUND: Duration = Duration::from_secs(3);

/// How long the server may take to return to its idle thread and descriptor counts.
const IDLE_BOUND: Duration = Duration::from_secs(2);

/// A simulator that prints a valid report and exits 0, leaving a grandchild that escaped its
/// process group (`setsid`) and holds its stdout and stderr, is answered 200 with the report's
/// numbers within `--backend-timeout` + 1 s; afterwards the server's threads and descriptors are
/// back to their idle counts (DESIGN "/run-cache-sim": once the child has exited, remaining
/// output gets a short grace, then the pipes are closed).
pub fn backend_setsid_grandchild_ok(target: &Target) -> Result<(), String> {
    let backend = start_with_sleeper(target, 30, "setsid {sleep} &", &["--backend-timeout", "2"])?;
    let server = &backend.server;
    expect_health(server.addr())?;
    let idle = (server.status()?.threads, server.descriptors()?);

    let (response, took) = timed_simulation(&backend)?;
    expect_success(&response, &LRU_DEFAULT)?;
    if took > GRANDCHILD_ANSWER_BOUND {
        return Err(format!(
            "the answer took {took:?} with --backend-timeout 2: the server waited for a \
             descendant that left the child's process group to close the pipes (once the child \
             has exited, give its pipes a short grace, then close them)"
        ));
    }
    expect_no_zombie(server)?;
    let mut now = idle;
    let back = wait_until(IDLE_BOUND, || {
        now = (
            server.status().map_or(u64::MAX, |status| status.threads),
            server.descriptors().unwrap_or(usize::MAX),
        );
        // At most: the count before may still include the persistent connection of the
        // /health check above, which stage 07 closes only when it sees the client's FIN.
        now.0 <= idle.0 && now.1 <= idle.1
    });
    if !back {
        return Err(format!(
            "threads and descriptors were {idle:?} before the request and {now:?} {IDLE_BOUND:?} \
             after it: the supervision of that child leaked"
        ));
    }
    expect_health(server.addr())
}

/// A simulator inherits no socket from the server: it reports how many it holds as its hits,
/// and the answer says 0 (DESIGN: children hold no client connection or listener).
pub fn backend_inherits_no_socket(target: &Target) -> Result<(), String> {
    let body = format!(
        "n=$(ls -l /proc/$$/fd | grep -c socket)\n{}",
        scripts::answer_lines_with("$n", 10, "0.00%")
    );
    let backend = start_with_script(target, &body, &[])?;
    let response = client::get(backend.server.addr(), "/run-cache-sim?policy=lru")?;
    response.expect_status(200)?;
    let json = response.json()?;
    match json.get("hits").and_then(|h| h.as_u64()) {
        Some(0) => expect_no_zombie(&backend.server),
        Some(sockets) => Err(format!(
            "the child process inherited {sockets} socket(s) from the server \
             (set close-on-exec on the listener and every connection)"
        )),
        None => Err(format!("no integer \"hits\" in {json}")),
    }
}

/// How long a server that refuses its arguments may take to exit.
const STARTUP_EXIT_BOUND: Duration = Duration::from_secs(10);

/// Checks that the launched server exits with status 2 and never prints the readiness line.
fn expect_startup_refused(mut server: Server, what: &str) -> Result<(), String> {
    let status = server.wait_exit(STARTUP_EXIT_BOUND);
    let lines = server.stdout_lines(Duration::from_secs(1));
    if let Some(line) = lines.iter().find(|l| l.starts_with(READY_PREFIX)) {
        return Err(format!("with {what} the server printed {line:?}"));
    }
    expect_exit(
        &status,
        2,
        &format!("with {what} the server should exit with status 2"),
    )
}

/// A `--cache-audit` path that does not exist: exit status 2 before listening (DESIGN "Command
/// line": validated before the socket is bound).
pub fn missing_cache_audit_exit_2(target: &Target) -> Result<(), String> {
    let scripts = ScriptDir::new()?;
    let missing = scripts.path().join("no-such-cache-audit");
    let server = target.launch().cache_audit(&missing).spawn()?;
    expect_startup_refused(server, "a missing --cache-audit")
}

/// A `--traces-dir` that does not exist: exit status 2 before listening (DESIGN "Command line").
pub fn missing_traces_dir_exit_2(target: &Target) -> Result<(), String> {
    let scripts = ScriptDir::new()?;
    let missing = scripts.path().join("no-such-traces");
    let server = target.launch().traces_dir(&missing).spawn()?;
    expect_startup_refused(server, "a missing --traces-dir")
}

/// A simulator whose report does not answer the request (a hit rate that contradicts its
/// counts, another policy than asked, two reports back to back) is a 500: never a 200 with
/// numbers nobody computed for this request (DESIGN "/run-cache-sim").
pub fn backend_inconsistent_report_500(target: &Target) -> Result<(), String> {
    let reports = [
        (
            "hits that contradict the hit rate",
            scripts::answer_lines_with("999999", 600, "0.00%"),
        ),
        (
            "a report for another policy",
            format!(
                "set -- \"$1\" fifo \"$3\"\n{}",
                scripts::answer_lines(570, 30)
            ),
        ),
        (
            "two reports",
            format!(
                "{}{}",
                scripts::answer_lines(570, 30),
                scripts::answer_lines(570, 30)
            ),
        ),
    ];
    for (what, body) in reports {
        let backend = start_with_script(target, &body, &[])?;
        expect_backend_error(&backend, 500).map_err(|error| format!("{what}: {error}"))?;
    }
    Ok(())
}

/// A simulator that prints a valid report and exits, leaving a background process that still
/// holds its stdout, is answered 200 at once (not after `--backend-timeout`), and the straggler
/// is stopped with the rest of the child's process group (DESIGN: no child is ever left).
pub fn backend_straggler_stopped(target: &Target) -> Result<(), String> {
    let backend = start_with_sleeper(target, 30, "{sleep} &", &["--backend-timeout", "5"])?;
    let (response, took) = timed_simulation(&backend)?;
    expect_success(&response, &LRU_DEFAULT)?;
    if took > TIMEOUT_ANSWER_BOUND {
        return Err(format!(
            "the answer took {took:?}: the server waited for the background process to close \
             the child's stdout instead of stopping it once the child had exited"
        ));
    }
    let why = "the child's background process still runs after the answer";
    expect_no_leftovers(&backend.scripts, Some(backend.server.pid()), why)?;
    expect_no_zombie(&backend.server)
}

/// A `--traces-dir` without the bundled trace files in it: exit status 2 before listening, not a
/// 500 on every request later (DESIGN "Command line").
pub fn traces_dir_without_traces_exit_2(target: &Target) -> Result<(), String> {
    let scripts = ScriptDir::new()?;
    let server = target.launch().traces_dir(scripts.path()).spawn()?;
    expect_startup_refused(server, "a --traces-dir without loop.txt, scan.txt, ...")
}

/// Simulation requests sent while the only worker is busy and the queue holds one.
const OVERFLOW_REQUESTS: usize = 5;

/// With THREADS=1 and `--queue-size 1`, while a 2 s simulation runs, five more simulation
/// requests find one queue slot: at least four are answered 503 with `Retry-After: 1` at once,
/// and every answer is complete (DESIGN "Decided conventions": the queue in front of the pool is
/// bounded; overflow is answered 503 by the accepting thread).
pub fn busy_pool_503(target: &Target) -> Result<(), String> {
    // "1" follows the port: THREADS=1.
    let backend = start_with_sleeper(target, 2, "{sleep}", &["1", "--queue-size", "1"])?;
    let addr = backend.server.addr();
    let first = std::thread::spawn(move || client::get(addr, "/run-cache-sim?policy=lru"));
    wait_for_simulations(&backend.server, 1)?;

    let began = Instant::now();
    let others: Vec<_> = (0..OVERFLOW_REQUESTS)
        .map(|_| std::thread::spawn(move || client::get(addr, "/run-cache-sim?policy=lru")))
        .collect();
    let mut refused = 0;
    for other in others {
        let response = joined(other)?;
        response.expect_complete()?;
        match response.status {
            503 => {
                response.expect_header("Retry-After", "1")?;
                refused += 1;
            }
            200 => {}
            _ => return Err(format!("an overflowing request got {}", response.summary())),
        }
    }
    let _ = first.join();
    if refused < OVERFLOW_REQUESTS - 1 {
        return Err(format!(
            "only {refused} of {OVERFLOW_REQUESTS} requests were refused with 503 while one worker \
             was busy and the queue held one ({:?})",
            began.elapsed()
        ));
    }
    expect_no_zombie(&backend.server)
}
