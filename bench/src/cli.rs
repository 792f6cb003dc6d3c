//! The command line, and the list of runs it asks for.

use std::path::PathBuf;
use std::time::Duration;

use clap::{Parser, ValueEnum};

use harness::stages::{self, Stage};
pub use harness::load::Mode;
use harness::load::Url;

/// Runs NetServe's stages one after the other under the same load and
/// compares throughput, latency, threads and memory.
///
/// Each stage binary is started from target/release on port 0 with --quiet
/// (we measure the server, not the terminal its access log would go to),
/// loaded by a closed loop of client threads, each sending one request per
/// connection or request after request on one persistent connection, then
/// stopped with SIGTERM. nginx (when installed) and the ceilings of
/// ../shared/perf (when gcc is) run under the same load as extra rows.
/// Results: a table on stdout, and results.csv, SCENARIO.md and
/// SCENARIO.svg in --out.
#[derive(Parser, Debug)]
#[command(version)]
pub struct Cli {
    /// Servers to run: `all` (every stage, nginx and the ceilings), or a
    /// list such as `01,03,07,nginx,ceiling`
    #[arg(long, value_name = "LIST", value_parser = parse_server_list)]
    pub stages: Option<ServerList>,

    /// Which load to apply
    #[arg(long, value_enum, default_value = "all")]
    pub scenario: ScenarioChoice,

    /// One request per connection (`close`), request after request on
    /// persistent connections (`keep-alive`), or each server in every mode
    /// it supports (`both`; stages 01-06 close after every response)
    #[arg(long, value_enum, default_value = "both")]
    pub mode: ModeChoice,

    /// Client connections, one request in flight each
    /// [default: 64 for health, 8 for the other scenarios]
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..=10_000))]
    pub connections: Option<u32>,

    /// Length of the measurement window of each run, in seconds
    #[arg(long, value_name = "S", default_value = "5", value_parser = seconds)]
    pub duration: Duration,

    /// Load applied before measuring each run, in seconds (0 for none)
    #[arg(long, value_name = "S", default_value = "1", value_parser = seconds)]
    pub warmup: Duration,

    /// The THREADS argument of stages 03-07 (worker threads; event loops
    /// for 07); a list such as `1,2,4,8` runs each. nginx's workers and
    /// the ceilings' threads follow a single value [default: the number of
    /// CPUs]
    #[arg(long, value_name = "T", value_delimiter = ',', value_parser = clap::value_parser!(u32).range(1..=4096))]
    pub threads: Vec<u32>,

    /// Benchmark a server that is already running instead of the stages,
    /// e.g. http://127.0.0.1:8080 (each scenario sends its own path) or
    /// http://127.0.0.1:8080/health (this path for every scenario); its
    /// threads, memory and CPU are not sampled
    #[arg(long, value_name = "URL", value_parser = Url::parse)]
    pub url: Option<Url>,

    /// Where the stage binaries are [default: target/release of the
    /// checkout this benchmark was built in]
    #[arg(long, value_name = "DIR")]
    pub bin_dir: Option<PathBuf>,

    /// Where to write results.csv, SCENARIO.md, SCENARIO.svg and README.md
    /// [default: bench/out]
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,

    /// After each run, also load the same server with wrk (same connections
    /// and duration) and show both figures side by side
    #[arg(long)]
    pub wrk: bool,
}

/// Idle persistent connections held open in the idle-connections scenario:
/// as many as a busy site's front end keeps between requests.
pub const IDLE_CONNECTIONS: u32 = 10_000;

/// A parsed `--stages`: which stages, and whether the reference servers
/// run too.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ServerList {
    /// The stages, sorted.
    pub stages: Vec<Stage>,
    /// Whether nginx runs (when installed).
    pub nginx: bool,
    /// Whether the ceilings of `../shared/perf` run (when gcc is there).
    pub ceiling: bool,
}

impl ServerList {
    /// Every stage and every reference server: the default.
    pub fn everything() -> ServerList {
        ServerList {
            stages: stages::ALL.to_vec(),
            nginx: true,
            ceiling: true,
        }
    }
}

/// Parses `--stages`: `all`, or stage numbers and the names `nginx` and
/// `ceiling`, separated by commas.
fn parse_server_list(text: &str) -> Result<ServerList, String> {
    if text.trim() == "all" {
        return Ok(ServerList::everything());
    }
    let mut list = ServerList {
        stages: Vec::new(),
        nginx: false,
        ceiling: false,
    };
    let mut numbers = Vec::new();
    for item in text.split(',').map(str::trim) {
        match item {
            "nginx" => list.nginx = true,
            "ceiling" => list.ceiling = true,
            number => numbers.push(number),
        }
    }
    if !numbers.is_empty() {
        list.stages = stages::parse_list(&numbers.join(","))
            .map_err(|error| format!("{error}, nginx or ceiling"))?;
    }
    Ok(list)
}

/// `--mode`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum ModeChoice {
    /// every server in each mode it supports
    Both,
    /// one request per connection, `Connection: close`
    Close,
    /// persistent connections, request after request
    KeepAlive,
}

/// A reference server, run under the same load as the stages so that a
/// reader sees where each stage stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Reference {
    /// nginx from the Debian package, from a generated configuration.
    Nginx,
    /// `../shared/perf/ka.c`: the smallest epoll keep-alive server, the
    /// ceiling for `/health`.
    KaC,
    /// `../shared/perf/spawn.c`: threads that spawn cache-audit and wait,
    /// no HTTP: the ceiling for `/run-cache-sim`. Not a server: its row
    /// reports spawns per second.
    SpawnC,
}

impl Reference {
    /// The name in tables and charts.
    pub fn name(self) -> &'static str {
        match self {
            Reference::Nginx => "nginx",
            Reference::KaC => "ka.c",
            Reference::SpawnC => "spawn.c",
        }
    }
}

/// What the reference servers need, found on this machine by `main`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Available {
    /// The nginx binary is installed.
    pub nginx: bool,
    /// `../shared/perf` and gcc are there, so the ceilings can be built.
    pub ceilings: bool,
}

/// `--scenario`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum ScenarioChoice {
    /// health, cache-sim, slow-clients, then idle-connections
    All,
    /// GET /health
    Health,
    /// GET /run-cache-sim?policy=lru&trace=loop (stages 05-07)
    CacheSim,
    /// K slow clients hold half-sent requests while N clients measure /health
    SlowClients,
    /// idle persistent connections held open while N clients measure /health
    IdleConnections,
}

/// A load the benchmark can apply.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Scenario {
    /// `GET /health`: the cheapest request, so it measures the server itself.
    Health,
    /// `GET /run-cache-sim?policy=lru&trace=loop`: one cache-audit child
    /// process per request.
    CacheSim,
    /// `GET /health` while K other clients hold half-sent requests open.
    SlowClients,
    /// `GET /health` while many idle persistent connections are held open.
    IdleConnections,
}

impl Scenario {
    /// Every scenario, in the order `all` runs them.
    pub const ALL: [Scenario; 4] = [
        Scenario::Health,
        Scenario::CacheSim,
        Scenario::SlowClients,
        Scenario::IdleConnections,
    ];

    /// The name used on the command line and in file names.
    pub fn name(self) -> &'static str {
        match self {
            Scenario::Health => "health",
            Scenario::CacheSim => "cache-sim",
            Scenario::SlowClients => "slow-clients",
            Scenario::IdleConnections => "idle-connections",
        }
    }

    /// The path and query each measuring request asks for.
    pub fn path(self) -> &'static str {
        match self {
            Scenario::Health | Scenario::SlowClients | Scenario::IdleConnections => "/health",
            Scenario::CacheSim => "/run-cache-sim?policy=lru&trace=loop",
        }
    }

    /// Measuring connections when `--connections` is not given: 64 for
    /// `/health`, the heaviest load of the original's measurements; 8 for a
    /// simulation, where 2 cores are saturated long before; 8 for the slow
    /// and idle clients scenarios, where the point is latency, not
    /// saturation.
    pub fn default_connections(self) -> u32 {
        match self {
            Scenario::Health => 64,
            Scenario::CacheSim | Scenario::SlowClients | Scenario::IdleConnections => 8,
        }
    }

    /// Whether `stage` can serve this scenario: a simulation needs stage 05,
    /// an idle persistent connection needs stage 07.
    pub fn applies_to(self, stage: Stage) -> bool {
        match self {
            Scenario::CacheSim => stage.runs_simulations(),
            Scenario::IdleConnections => stage.keeps_alive(),
            Scenario::Health | Scenario::SlowClients => true,
        }
    }

    /// The reference servers that take part in this scenario: nginx has no
    /// simulator; ka.c answers every request alike, so it is a ceiling for
    /// `/health` only; spawn.c is the ceiling of a simulation.
    pub fn references(self) -> &'static [Reference] {
        match self {
            Scenario::Health | Scenario::IdleConnections => &[Reference::Nginx, Reference::KaC],
            Scenario::CacheSim => &[Reference::SpawnC],
            Scenario::SlowClients => &[Reference::Nginx],
        }
    }
}

/// What is being measured in one run.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ServerSpec {
    /// A stage binary, started for the run.
    Stage(Stage),
    /// A server already running.
    Url(Url),
    /// A reference server (or ceiling), started for the run.
    Reference(Reference),
}

impl ServerSpec {
    /// The connection modes this server supports: stages 01-06 close after
    /// every response, ka.c never closes, the others do both.
    fn modes(&self) -> &'static [Mode] {
        match self {
            ServerSpec::Stage(stage) if !stage.keeps_alive() => &[Mode::Close],
            ServerSpec::Reference(Reference::KaC) => &[Mode::KeepAlive],
            // spawn.c opens no connection: any mode will do, and `plan`
            // keeps one.
            _ => &[Mode::Close, Mode::KeepAlive],
        }
    }
}

/// One run: one server, one load, one row of the results.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RunSpec {
    /// Which load.
    pub scenario: Scenario,
    /// Which server.
    pub server: ServerSpec,
    /// Measuring connections.
    pub connections: u32,
    /// The THREADS argument given to a pool stage; `None` for stages 01-02
    /// (no pool) and for `--url`.
    pub pool: Option<u32>,
    /// Slow clients held open during the run (0 outside slow-clients).
    pub slow_clients: u32,
    /// Idle persistent connections held open during the run (0 outside
    /// idle-connections, and in its quiet run).
    pub idle: u32,
    /// How the measuring clients use their connections.
    pub mode: Mode,
}

impl RunSpec {
    /// The request path of this run.
    pub fn path(&self) -> &str {
        match &self.server {
            ServerSpec::Url(url) => url.path.as_deref().unwrap_or(self.scenario.path()),
            ServerSpec::Stage(_) | ServerSpec::Reference(_) => self.scenario.path(),
        }
    }

    /// The stage, if this run starts one.
    pub fn stage(&self) -> Option<Stage> {
        match &self.server {
            ServerSpec::Stage(stage) => Some(*stage),
            ServerSpec::Url(_) | ServerSpec::Reference(_) => None,
        }
    }

    /// Whether this run is spawn.c's: no server, no connections, only a
    /// rate of spawns.
    pub fn is_spawn_ceiling(&self) -> bool {
        self.server == ServerSpec::Reference(Reference::SpawnC)
    }

    /// How the server is named in tables: `03`, `nginx`, `ka.c`, or the
    /// URL's `HOST:PORT`.
    pub fn server_label(&self) -> String {
        match &self.server {
            ServerSpec::Stage(stage) => stage.to_string(),
            ServerSpec::Url(url) => url.authority.clone(),
            ServerSpec::Reference(reference) => reference.name().to_owned(),
        }
    }

    /// The server with its mode, except for a stage that closes (as all
    /// stages did before 07) and spawn.c: `nginx (keep-alive)`,
    /// `nginx (close)`, `07 (keep-alive)`, `03`.
    pub fn long_label(&self) -> String {
        match (&self.server, self.mode) {
            (ServerSpec::Stage(_), Mode::Close) | (ServerSpec::Reference(Reference::SpawnC), _) => {
                self.server_label()
            }
            (_, mode) => format!("{} ({})", self.server_label(), mode.name()),
        }
    }

    /// The connection mode as tables show it; `-` for spawn.c.
    pub fn mode_label(&self) -> &'static str {
        if self.is_spawn_ceiling() {
            "-"
        } else {
            self.mode.name()
        }
    }
}

/// The runs the command line asks for, in order, and notes about what was
/// left out and why. `cpus` is the pool size the stages default to (and the
/// workers or threads of the reference servers); `available` says which
/// reference servers this machine can run.
///
/// Per scenario the order is: each stage (each pool size, connection count,
/// K or idle count, then mode), then nginx, then the ceiling.
///
/// # Errors
/// A message when nothing is left to run.
pub fn plan(
    cli: &Cli,
    cpus: u32,
    available: Available,
) -> Result<(Vec<RunSpec>, Vec<String>), String> {
    let scenarios: Vec<Scenario> = match cli.scenario {
        ScenarioChoice::All => Scenario::ALL.to_vec(),
        ScenarioChoice::Health => vec![Scenario::Health],
        ScenarioChoice::CacheSim => vec![Scenario::CacheSim],
        ScenarioChoice::SlowClients => vec![Scenario::SlowClients],
        ScenarioChoice::IdleConnections => vec![Scenario::IdleConnections],
    };
    let modes: Vec<Mode> = match cli.mode {
        ModeChoice::Both => vec![Mode::Close, Mode::KeepAlive],
        ModeChoice::Close => vec![Mode::Close],
        ModeChoice::KeepAlive => vec![Mode::KeepAlive],
    };
    // The reference servers' workers and the slow clients' K follow a
    // single --threads value, not a sweep.
    let base_pool = match cli.threads[..] {
        [single] => single,
        _ => cpus,
    };
    let pools = if cli.threads.is_empty() { vec![cpus] } else { cli.threads.clone() };
    let mut slow_counts = vec![1, base_pool];
    slow_counts.dedup();
    let everything = ServerList::everything();
    let chosen = cli.stages.as_ref().unwrap_or(&everything);

    let mut runs = Vec::new();
    let mut notes = Vec::new();
    for &scenario in &scenarios {
        let connections = [cli.connections.unwrap_or(scenario.default_connections())];
        let loads: Vec<(u32, u32)> = match scenario {
            Scenario::SlowClients => slow_counts.iter().map(|&slow| (slow, 0)).collect(),
            // The quiet run first: its p99 is what the crowded one is
            // compared with.
            Scenario::IdleConnections => vec![(0, 0), (0, IDLE_CONNECTIONS)],
            Scenario::Health | Scenario::CacheSim => vec![(0, 0)],
        };
        let servers: Vec<(ServerSpec, Vec<Option<u32>>)> = match &cli.url {
            Some(url) => vec![(ServerSpec::Url(url.clone()), vec![None])],
            None => {
                let (applicable, skipped): (Vec<Stage>, Vec<Stage>) = chosen
                    .stages
                    .iter()
                    .partition(|stage| scenario.applies_to(**stage));
                if !skipped.is_empty() {
                    let names: Vec<String> = skipped.iter().map(Stage::to_string).collect();
                    let why = if scenario == Scenario::IdleConnections {
                        "they close after every response: no idle persistent connection to hold"
                    } else {
                        "no simulator before stage 05"
                    };
                    notes.push(format!(
                        "{}: skipping stage {} ({why})",
                        scenario.name(),
                        names.join(", ")
                    ));
                }
                let mut servers: Vec<(ServerSpec, Vec<Option<u32>>)> = applicable
                    .into_iter()
                    .map(|stage| {
                        let pools = if stage.has_pool() {
                            pools.iter().copied().map(Some).collect()
                        } else {
                            vec![None]
                        };
                        (ServerSpec::Stage(stage), pools)
                    })
                    .collect();
                for &reference in scenario.references() {
                    let (wanted, installed, missing) = match reference {
                        Reference::Nginx => (
                            chosen.nginx,
                            available.nginx,
                            "nginx is not installed (Debian: apt-get install nginx-light)",
                        ),
                        Reference::KaC | Reference::SpawnC => (
                            chosen.ceiling,
                            available.ceilings,
                            "../shared/perf or gcc is missing",
                        ),
                    };
                    if !wanted {
                        continue;
                    }
                    if installed {
                        servers.push((ServerSpec::Reference(reference), vec![Some(base_pool)]));
                    } else {
                        notes.push(format!(
                            "{}: no {} row: {missing}",
                            scenario.name(),
                            reference.name()
                        ));
                    }
                }
                servers
            }
        };
        for (server, server_pools) in &servers {
            let mut server_modes: Vec<Mode> = modes
                .iter()
                .copied()
                .filter(|mode| server.modes().contains(mode))
                .collect();
            if server_modes.is_empty() {
                notes.push(format!(
                    "{}: skipping {} in {} mode ({})",
                    scenario.name(),
                    match server {
                        ServerSpec::Stage(stage) => format!("stage {stage}"),
                        ServerSpec::Reference(reference) => reference.name().to_owned(),
                        ServerSpec::Url(url) => url.authority.clone(),
                    },
                    modes[0].name(),
                    if server.modes() == [Mode::KeepAlive] {
                        "it never closes a connection"
                    } else {
                        "it closes after every response"
                    }
                ));
            }
            // spawn.c opens no connection: one row, whatever the load.
            let (connections, loads) = if *server == ServerSpec::Reference(Reference::SpawnC) {
                server_modes.truncate(1);
                (&connections[..1], &loads[..1])
            } else {
                (&connections[..], &loads[..])
            };
            for &connections in connections {
                for &pool in server_pools {
                    for &(slow_clients, idle) in loads {
                        for &mode in &server_modes {
                            runs.push(RunSpec {
                                scenario,
                                server: server.clone(),
                                connections,
                                pool,
                                slow_clients,
                                idle,
                                mode,
                            });
                        }
                    }
                }
            }
        }
    }
    if runs.is_empty() {
        return Err("nothing to run: no chosen server serves the chosen scenario".to_owned());
    }
    Ok((runs, notes))
}

/// A number of seconds from 0 to an hour.
fn seconds(text: &str) -> Result<Duration, String> {
    match text.parse::<f64>() {
        Ok(seconds) if (0.0..=3600.0).contains(&seconds) => Ok(Duration::from_secs_f64(seconds)),
        _ => Err("expected seconds from 0 to 3600".to_owned()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(line: &str) -> Cli {
        Cli::try_parse_from(std::iter::once("bench").chain(line.split_whitespace()))
            .unwrap_or_else(|error| panic!("{line:?}: {error}"))
    }

    /// Everything is installed.
    const ALL_THERE: Available = Available {
        nginx: true,
        ceilings: true,
    };

    fn labels(runs: &[RunSpec]) -> Vec<String> {
        runs.iter()
            .map(|run| {
                let mut label = format!(
                    "{} {} c{} t{} k{}",
                    run.scenario.name(),
                    run.server_label(),
                    run.connections,
                    run.pool.map_or("-".to_owned(), |pool| pool.to_string()),
                    run.slow_clients
                );
                if run.idle > 0 {
                    label.push_str(&format!(" i{}", run.idle));
                }
                if run.mode == Mode::KeepAlive {
                    label.push_str(" ka");
                }
                label
            })
            .collect()
    }

    #[test]
    fn defaults() {
        let cli = parse("");
        assert_eq!(cli.duration, Duration::from_secs(5));
        assert_eq!(cli.warmup, Duration::from_secs(1));
        let (runs, notes) = plan(&cli, 2, ALL_THERE).unwrap();
        let labels = labels(&runs);
        // health: 01-07 close, 07 keep-alive, nginx both ways, ka.c.
        assert_eq!(
            labels[..11],
            [
                "health 01 c64 t- k0",
                "health 02 c64 t- k0",
                "health 03 c64 t2 k0",
                "health 04 c64 t2 k0",
                "health 05 c64 t2 k0",
                "health 06 c64 t2 k0",
                "health 07 c64 t2 k0",
                "health 07 c64 t2 k0 ka",
                "health nginx c64 t2 k0",
                "health nginx c64 t2 k0 ka",
                "health ka.c c64 t2 k0 ka",
            ]
        );
        // cache-sim: 05-07 close, 07 keep-alive, spawn.c once.
        assert_eq!(
            labels[11..16],
            [
                "cache-sim 05 c8 t2 k0",
                "cache-sim 06 c8 t2 k0",
                "cache-sim 07 c8 t2 k0",
                "cache-sim 07 c8 t2 k0 ka",
                "cache-sim spawn.c c8 t2 k0",
            ]
        );
        // slow-clients: 01-06 at K 1 and 2, 07 and nginx in both modes.
        assert_eq!(labels[16], "slow-clients 01 c8 t- k1");
        assert_eq!(labels[17], "slow-clients 01 c8 t- k2");
        assert_eq!(
            labels[28..32],
            [
                "slow-clients 07 c8 t2 k1",
                "slow-clients 07 c8 t2 k1 ka",
                "slow-clients 07 c8 t2 k2",
                "slow-clients 07 c8 t2 k2 ka",
            ]
        );
        assert_eq!(labels[35], "slow-clients nginx c8 t2 k2 ka");
        // idle-connections: quiet, then 10,000 idle; 07, nginx, ka.c.
        assert_eq!(
            labels[36..],
            [
                "idle-connections 07 c8 t2 k0",
                "idle-connections 07 c8 t2 k0 ka",
                "idle-connections 07 c8 t2 k0 i10000",
                "idle-connections 07 c8 t2 k0 i10000 ka",
                "idle-connections nginx c8 t2 k0",
                "idle-connections nginx c8 t2 k0 ka",
                "idle-connections nginx c8 t2 k0 i10000",
                "idle-connections nginx c8 t2 k0 i10000 ka",
                "idle-connections ka.c c8 t2 k0 ka",
                "idle-connections ka.c c8 t2 k0 i10000 ka",
            ]
        );
        assert_eq!(notes.len(), 2);
        assert!(notes[0].contains("01, 02, 03, 04"));
        assert!(notes[1].contains("idle-connections: skipping stage 01, 02, 03, 04, 05, 06"));
    }

    #[test]
    fn missing_references_are_noted_not_run() {
        let cli = parse("--scenario health --stages 03,nginx,ceiling");
        let (runs, notes) = plan(&cli, 2, Available::default()).unwrap();
        assert_eq!(labels(&runs), ["health 03 c64 t2 k0"]);
        assert_eq!(notes.len(), 2);
        assert!(notes[0].contains("no nginx row: nginx is not installed"));
        assert!(notes[1].contains("no ka.c row"));
        // Not asked for: no note.
        let cli = parse("--scenario health --stages 01,03");
        assert!(plan(&cli, 2, Available::default()).unwrap().1.is_empty());
    }

    #[test]
    fn modes() {
        let cli = parse("--scenario health --stages 03,07,ceiling --mode keep-alive");
        let (runs, notes) = plan(&cli, 2, ALL_THERE).unwrap();
        assert_eq!(
            labels(&runs),
            ["health 07 c64 t2 k0 ka", "health ka.c c64 t2 k0 ka"]
        );
        assert_eq!(notes.len(), 1);
        assert!(notes[0].contains("skipping stage 03 in keep-alive mode"));
        let cli = parse("--scenario cache-sim --stages 07,ceiling --mode close");
        let (runs, _) = plan(&cli, 2, ALL_THERE).unwrap();
        assert_eq!(
            labels(&runs),
            ["cache-sim 07 c8 t2 k0", "cache-sim spawn.c c8 t2 k0"]
        );
        let cli = parse("--scenario idle-connections --stages 07 --mode close");
        let (runs, _) = plan(&cli, 2, ALL_THERE).unwrap();
        assert_eq!(
            labels(&runs),
            [
                "idle-connections 07 c8 t2 k0",
                "idle-connections 07 c8 t2 k0 i10000"
            ]
        );
    }

    #[test]
    fn lists_and_sweeps() {
        let cli = parse("--scenario health --stages 02,03 --connections 8 --threads 1,4");
        let (runs, _) = plan(&cli, 2, ALL_THERE).unwrap();
        assert_eq!(
            labels(&runs),
            ["health 02 c8 t- k0", "health 03 c8 t1 k0", "health 03 c8 t4 k0"]
        );
    }

    #[test]
    fn slow_clients_follow_the_pool_size() {
        let cli = parse("--scenario slow-clients --stages 3 --threads 4");
        let (runs, _) = plan(&cli, 2, ALL_THERE).unwrap();
        assert_eq!(
            labels(&runs),
            ["slow-clients 03 c8 t4 k1", "slow-clients 03 c8 t4 k4"]
        );
    }

    #[test]
    fn urls_replace_the_stages() {
        let cli = parse("--url http://127.0.0.1:8080 --scenario cache-sim");
        let (runs, notes) = plan(&cli, 2, ALL_THERE).unwrap();
        assert!(notes.is_empty());
        assert_eq!(
            labels(&runs),
            [
                "cache-sim 127.0.0.1:8080 c8 t- k0",
                "cache-sim 127.0.0.1:8080 c8 t- k0 ka"
            ]
        );
        assert_eq!(runs[0].path(), "/run-cache-sim?policy=lru&trace=loop");
        let cli = parse("--url http://127.0.0.1:8080/health --scenario cache-sim");
        assert_eq!(plan(&cli, 2, ALL_THERE).unwrap().0[0].path(), "/health");
    }

    #[test]
    fn nothing_to_run_is_an_error() {
        let cli = parse("--scenario cache-sim --stages 01,04");
        assert!(plan(&cli, 2, ALL_THERE).is_err());
    }

    #[test]
    fn rejects_bad_values() {
        let parse = |line: &str| {
            Cli::try_parse_from(std::iter::once("bench").chain(line.split_whitespace()))
        };
        assert!(parse("--stages 8").is_err());
        assert!(parse("--stages 03,apache").is_err());
        assert!(parse("--connections 0").is_err());
        assert!(parse("--warmup -1").is_err());
        assert!(parse("--url ftp://x").is_err());
        assert!(parse("--scenario everything").is_err());
        assert!(parse("--warmup 0").is_ok());
    }
}
