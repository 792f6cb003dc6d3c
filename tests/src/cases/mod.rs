//! The cases, and the one declarative list that says which stage brings each of them.
//!
//! A case is a plain function `fn(&Target) -> Result<(), String>`: it starts its own server(s)
//! on port 0, talks to them, and returns `Err` with a message a learner can act on. Cases are
//! independent, so they can run in parallel.

use std::panic::{self, AssertUnwindSafe};
use std::process::ExitStatus;
use std::thread::JoinHandle;
use std::time::Duration;

use harness::client::{self, Connection, Response};
use harness::server::{Server, describe_exit};
use harness::wait_until;

use crate::target::Target;

pub mod backend;
pub mod basic;
pub mod concurrency;
pub mod limits;
pub mod parsing;
pub mod persistent;
pub mod robustness;
pub mod routing;
pub mod shutdown;

/// The last stage of the course (from the one list of stages, `harness::stages`).
pub const MAX_STAGE: u8 = harness::stages::LAST.number;

/// Parses a stage number as a person types it: `3` or `03`, from 1 to [`MAX_STAGE`].
///
/// # Errors
/// A message saying which stages exist.
pub fn parse_stage(text: &str) -> Result<u8, String> {
    harness::stages::Stage::parse(text).map(|stage| stage.number)
}

/// A case's function: runs against the target, `Err` says what went wrong.
pub type CaseFn = fn(&Target) -> Result<(), String>;

/// One conformance case and the stages it applies to.
#[derive(Clone, Copy)]
pub struct Case {
    /// Its name within its stage, e.g. `health_ok`.
    pub name: &'static str,
    /// The first stage that must pass it; every later stage must pass it too.
    pub since: u8,
    /// For a case that shows one stage's documented limitation (stage 01 serves one client at a
    /// time): the only stage it applies to. Such a case is not listed for any other stage.
    pub only: Option<u8>,
    /// For a case that a later stage's design makes moot: the last stage it applies to. Stage
    /// 07 has no pool, so idle clients no longer fill a queue the way `full_queue_503` needs;
    /// later stages do not list it.
    pub until: Option<u8>,
    /// The check itself.
    pub run: CaseFn,
}

/// Whether a case applies to a stage.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Applies {
    /// The stage must pass it.
    Yes,
    /// A later stage brings it: listed as ignored.
    NotYet,
    /// A limitation of another stage, or a case a later design made moot: not listed.
    Never,
}

impl Case {
    /// The stage whose behaviour the case describes: `only` if set, else `since`.
    pub fn stage(&self) -> u8 {
        self.only.unwrap_or(self.since)
    }

    /// The trial name, prefixed by the stage that brings the case: `s04::head_has_no_body`.
    pub fn full_name(&self) -> String {
        format!("s{:02}::{}", self.stage(), self.name)
    }

    /// Whether this case applies to `stage`.
    pub fn applies_to(&self, stage: u8) -> Applies {
        match self.only {
            Some(only) if only == stage => Applies::Yes,
            Some(_) => Applies::Never,
            None if self.until.is_some_and(|until| stage > until) => Applies::Never,
            None if self.since <= stage => Applies::Yes,
            None => Applies::NotYet,
        }
    }

    /// The stages a case is limited to, for the runner's `skip` line: `stage 02 only` or
    /// `stages 03-05 only`.
    pub fn scope(&self) -> String {
        match (self.only, self.until) {
            (Some(only), _) => format!("stage {only:02} only"),
            (None, Some(until)) => format!("stages {:02}-{until:02} only", self.since),
            (None, None) => format!("stages {:02} on", self.since),
        }
    }
}

/// A case every stage from `since` on must pass.
const fn case(name: &'static str, since: u8, run: CaseFn) -> Case {
    Case {
        name,
        since,
        only: None,
        until: None,
        run,
    }
}

/// A case stages `since` to `until` must pass, and that a later design made moot.
const fn bounded(name: &'static str, since: u8, until: u8, run: CaseFn) -> Case {
    Case {
        name,
        since,
        only: None,
        until: Some(until),
        run,
    }
}

/// A case that shows a documented limitation of stage `only`, and applies to it alone.
const fn limitation(name: &'static str, only: u8, run: CaseFn) -> Case {
    Case {
        name,
        since: only,
        only: Some(only),
        until: None,
        run,
    }
}

/// `since!(N, module::function)`: a case every stage from N on must pass.
macro_rules! since {
    ($stage:literal, $module:ident :: $function:ident) => {
        case(stringify!($function), $stage, $module::$function)
    };
}

/// `between!(N, M, module::function)`: a case stages N to M must pass, moot after M.
macro_rules! between {
    ($since:literal, $until:literal, $module:ident :: $function:ident) => {
        bounded(stringify!($function), $since, $until, $module::$function)
    };
}

/// `only!(N, module::function)`: a case showing a documented limitation of stage N alone.
macro_rules! only {
    ($stage:literal, $module:ident :: $function:ident) => {
        limitation(stringify!($function), $stage, $module::$function)
    };
}

/// Every case, in the order stages bring them (like codecrafters' `tester_definition.go`):
/// `since!(N, module::function)` is a case every stage from N on must pass, `only!(N, …)` shows a
/// limitation of stage N alone, `between!(N, M, …)` applies to stages N to M. A case is named
/// after its function.
pub const ALL: &[Case] = &[
    // Stage 01: one connection at a time, the HTTP rules every stage keeps.
    since!(1, basic::health_ok),
    since!(1, basic::unknown_path_404),
    since!(1, basic::http10_without_host_ok),
    since!(1, basic::bare_lf_line_endings_ok),
    since!(1, basic::absolute_form_target_ok),
    since!(1, basic::dribbled_request_ok),
    between!(1, 6, basic::pipelined_requests_first_answered),
    between!(1, 6, persistent::one_response_then_close),
    since!(1, basic::help_lines_are_indented),
    since!(1, parsing::empty_request_line_400),
    since!(1, parsing::one_empty_line_before_request_line_ok),
    since!(1, parsing::garbage_request_line_400),
    since!(1, parsing::request_line_without_target_400),
    since!(1, parsing::space_before_colon_400),
    since!(1, parsing::obs_fold_400),
    since!(1, parsing::nul_in_field_value_400),
    since!(1, parsing::obs_text_in_field_value_ok),
    since!(1, parsing::http_1_2_processed_as_http_1_1),
    since!(1, parsing::http_9_9_505),
    since!(1, parsing::http_2_0_505),
    since!(1, parsing::http11_without_host_400),
    since!(1, parsing::two_host_fields_400),
    since!(1, parsing::content_length_with_transfer_encoding_400),
    since!(1, parsing::two_different_content_lengths_400),
    since!(1, parsing::transfer_coding_not_chunked_400),
    since!(1, parsing::invalid_host_value_400),
    since!(1, parsing::invalid_host_authority_400),
    since!(1, parsing::absolute_form_invalid_authority_400),
    since!(1, parsing::fragment_in_target_400),
    since!(1, parsing::head_errors_have_no_body),
    since!(1, limits::head_of_8191_bytes_ok),
    since!(1, limits::head_of_8192_bytes_ok),
    since!(1, limits::head_of_8193_bytes_431),
    since!(1, limits::hundred_header_fields_ok),
    since!(1, limits::hundred_and_one_header_fields_431),
    since!(1, limits::target_of_4096_bytes_not_414),
    since!(1, limits::target_of_4097_bytes_414),
    since!(1, robustness::silent_client_408),
    since!(1, robustness::slow_head_408),
    since!(1, robustness::head_408_has_no_body),
    since!(1, robustness::non_http_bytes_400_at_once),
    since!(1, robustness::unread_body_discarded_before_close),
    since!(1, robustness::closed_connections_tolerated),
    since!(1, robustness::reset_connections_tolerated),
    since!(1, robustness::endless_head_431_bounded_memory),
    only!(1, concurrency::idle_client_blocks_others),
    // Stage 02: a thread per connection.
    since!(2, concurrency::idle_client_does_not_block_others),
    only!(2, concurrency::threads_grow_with_connections),
    // Stage 03: a fixed pool and a bounded queue.
    since!(3, concurrency::threads_bounded_by_pool),
    between!(3, 6, concurrency::full_queue_503),
    since!(3, concurrency::header_deadline_counts_from_accept),
    // Stage 04: routing, HEAD, 405, /run-cache-sim validation.
    since!(4, routing::post_health_405),
    since!(4, routing::delete_run_cache_sim_405),
    since!(4, routing::unknown_method_405),
    since!(4, routing::head_has_no_body),
    since!(4, routing::sim_missing_policy_400),
    since!(4, routing::sim_unknown_policy_400),
    since!(4, routing::sim_unknown_trace_400),
    since!(4, routing::sim_bad_cache_size_400),
    since!(4, routing::sim_repeated_parameter_400),
    since!(4, routing::sim_unknown_parameter_400),
    since!(4, routing::sim_malformed_escape_400),
    since!(4, routing::sim_percent_encoded_value_accepted),
    only!(4, routing::sim_valid_request_501),
    // Stage 05: /run-cache-sim runs the simulator as a child process.
    since!(5, backend::sim_lru_default_ok),
    since!(5, backend::sim_arc_hot_cold_ok),
    since!(5, backend::sim_matches_golden),
    since!(5, backend::backend_exit_status_500),
    since!(5, backend::backend_garbage_500),
    since!(5, backend::backend_silent_500),
    since!(5, backend::backend_timeout_504),
    since!(5, backend::backend_floods_stdout_ok),
    since!(5, backend::backend_floods_stderr_ok),
    since!(5, backend::backend_killed_by_signal_500),
    since!(5, backend::backend_inherits_no_socket),
    since!(5, backend::backend_inconsistent_report_500),
    since!(5, backend::backend_straggler_stopped),
    since!(5, backend::backend_setsid_grandchild_ok),
    since!(5, backend::backend_exec_failure_500),
    since!(5, backend::backend_error_bodies_quote_no_path),
    between!(5, 6, backend::busy_pool_503),
    since!(5, backend::missing_cache_audit_exit_2),
    since!(5, backend::missing_traces_dir_exit_2),
    since!(5, backend::traces_dir_without_traces_exit_2),
    // Stage 06: graceful shutdown.
    since!(6, shutdown::sigterm_drains_in_flight),
    since!(6, shutdown::sigint_drains_in_flight),
    since!(6, shutdown::sighup_drains_in_flight),
    since!(6, shutdown::sigterm_idle_exits_0),
    since!(6, shutdown::drain_timeout_kills_backend),
    since!(6, shutdown::silent_connections_closed_at_once),
    since!(6, shutdown::partial_heads_get_one_more_second),
    // Stage 07: event loops and persistent connections; slow clients cost buffers, not workers.
    since!(7, concurrency::slow_clients_do_not_hold_workers),
    since!(7, concurrency::unsent_bodies_do_not_hold_workers),
    since!(7, persistent::two_requests_on_one_connection),
    since!(7, persistent::hundred_pipelined_in_order),
    since!(7, persistent::http10_closes_unless_asked),
    since!(7, persistent::connection_close_honoured),
    since!(7, persistent::idle_timeout_closes),
    since!(7, persistent::half_close_still_answered),
    since!(7, persistent::never_reading_client_bounded),
    since!(7, persistent::body_between_pipelined_requests_skipped),
    since!(7, persistent::simulation_does_not_delay_health),
    since!(7, persistent::idle_connections_do_not_stop_health),
    since!(7, persistent::sigterm_closes_idle_and_finishes_in_flight),
    since!(7, persistent::drain_closes_silent_and_bounds_partial_heads),
    since!(7, persistent::health_503_while_draining),
    since!(7, persistent::max_connections_503),
];

/// Runs one case on its own copy of the target, turning a panic into a failure and appending
/// the servers' last stderr lines to any failure message.
pub fn run_case(case: &Case, target: &Target) -> Result<(), String> {
    let target = target.for_case();
    let outcome = panic::catch_unwind(AssertUnwindSafe(|| (case.run)(&target)));
    let result = match outcome {
        Ok(result) => result,
        Err(payload) => Err(format!("the case panicked: {}", panic_message(&payload))),
    };
    result.map_err(|message| format!("{message}{}", target.failure_context()))
}

/// The text of a panic payload (`&str` or `String`), for messages.
fn panic_message(payload: &Box<dyn std::any::Any + Send>) -> String {
    let text = payload.downcast_ref::<&str>().copied();
    let text = text.or_else(|| payload.downcast_ref::<String>().map(String::as_str));
    text.unwrap_or("(non-text panic payload)").to_string()
}

/// Starts a server with default arguments, sends `request` on one connection, and checks that
/// the complete response has status `status`. Returns the response for further checks.
pub(crate) fn expect_status(
    target: &Target,
    request: &[u8],
    status: u16,
) -> Result<Response, String> {
    let server = target.start()?;
    let response = client::exchange(server.addr(), request)?;
    let sent = |error: String| format!("{error}\nsent: {}", client::excerpt(request));
    response.expect_status(status).map_err(sent)?;
    response.expect_complete().map_err(sent)?;
    Ok(response)
}

/// How long the server may take to accept connections a case opened.
pub(crate) const ACCEPT_BOUND: Duration = Duration::from_secs(5);

/// Waits until the server holds at least `count` sockets; the error says how many it held.
pub(crate) fn wait_for_sockets(server: &Server, count: usize, why: &str) -> Result<(), String> {
    let mut held = 0;
    let reached = wait_until(ACCEPT_BOUND, || {
        held = server.sockets().unwrap_or(0);
        held >= count
    });
    if reached {
        Ok(())
    } else {
        Err(format!(
            "{why}: the server holds {held} sockets after {ACCEPT_BOUND:?}, expected at least {count}"
        ))
    }
}

/// Opens `count` connections that each send `opening` (perhaps nothing, perhaps half a head)
/// and waits until the server has accepted all of them; `why` starts the error if it does not.
pub(crate) fn hold_connections(
    server: &Server,
    count: usize,
    opening: &[u8],
    why: &str,
) -> Result<Vec<Connection>, String> {
    let baseline = server.sockets()?;
    let mut held = Vec::new();
    for _ in 0..count {
        let mut connection = Connection::open(server.addr())?;
        connection.send(opening)?;
        held.push(connection);
    }
    wait_for_sockets(server, baseline + count, why)?;
    Ok(held)
}

/// How long the children of simulation requests may take to appear.
pub(crate) const SPAWN_BOUND: Duration = Duration::from_secs(3);

/// Waits until the server runs `count` simulations (live child processes).
pub(crate) fn wait_for_simulations(server: &Server, count: usize) -> Result<(), String> {
    let mut running = 0;
    let started = wait_until(SPAWN_BOUND, || {
        running = server.live_children();
        running >= count
    });
    if started {
        return Ok(());
    }
    Err(format!(
        "only {running} of {count} simulations started within {SPAWN_BOUND:?}"
    ))
}

/// Checks an exit status (from [`Server::wait_exit`]); `why` starts the error.
pub(crate) fn expect_exit(
    status: &Result<ExitStatus, String>,
    code: i32,
    why: &str,
) -> Result<(), String> {
    match status {
        Ok(status) if status.code() == Some(code) => Ok(()),
        other => Err(format!("{why}: {}", describe_exit(other))),
    }
}

/// What a client thread returned; a panic in it is a failure.
pub(crate) fn joined<T>(thread: JoinHandle<Result<T, String>>) -> Result<T, String> {
    thread
        .join()
        .unwrap_or_else(|_| Err("a client thread panicked".into()))
}

/// Checks that `/health` still answers 200 (after a case has tried to upset the server).
pub(crate) fn expect_health(addr: std::net::SocketAddr) -> Result<(), String> {
    client::get(addr, "/health")
        .and_then(|response| response.expect_status(200))
        .map_err(|e| format!("/health afterwards: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn names_are_unique() {
        let mut seen = HashSet::new();
        for case in ALL {
            assert!(
                seen.insert(case.full_name()),
                "duplicate case {}",
                case.full_name()
            );
        }
    }

    #[test]
    fn stages_are_valid_and_in_order() {
        let mut previous = 1;
        for case in ALL {
            assert!(
                (1..=MAX_STAGE).contains(&case.stage()),
                "{}: no such stage",
                case.name
            );
            assert!(
                case.stage() >= previous,
                "{} is out of stage order",
                case.name
            );
            previous = case.stage();
        }
    }

    #[test]
    fn which_stages_a_case_applies_to() {
        let applies = |case: Case| [1, 2, 3, 4, 5, 6].map(|stage| case.applies_to(stage));
        let (yes, not_yet, never) = (Applies::Yes, Applies::NotYet, Applies::Never);
        let later = case("x", 4, |_| Ok(()));
        assert_eq!(applies(later), [not_yet, not_yet, not_yet, yes, yes, yes]);
        let only_02 = limitation("x", 2, |_| Ok(()));
        assert_eq!(only_02.full_name(), "s02::x");
        assert_eq!(applies(only_02), [never, yes, never, never, never, never]);
        let until_05 = bounded("x", 3, 5, |_| Ok(()));
        assert_eq!(applies(until_05), [not_yet, not_yet, yes, yes, yes, never]);
        assert_eq!(until_05.scope(), "stages 03-05 only");
    }

    #[test]
    fn a_panicking_case_is_a_failure() {
        let target = Target::new(1, Vec::new(), "ca".into(), "traces".into());
        let case = case("x", 1, |_| panic!("boom"));
        let error = run_case(&case, &target).expect_err("a panic fails the case");
        assert!(error.contains("boom"), "{error}");
    }
}
