//! The command line, and the list of runs it asks for.

use std::path::PathBuf;
use std::time::Duration;

use clap::{Parser, ValueEnum};
pub use harness::load::Mode;
use harness::stages::{self, Stage};

/// Runs NetServe's stages one after the other under the same load and
/// compares throughput, latency, threads and memory.
///
/// Each stage binary is started from target/release on port 0 with --quiet
/// (we measure the server, not the terminal its access log would go to),
/// loaded by a closed loop of client connections, one request per
/// connection or request after request on persistent ones, then stopped
/// with SIGTERM. nginx (when installed) and the ceilings of ../shared/perf
/// (when gcc is) run under the same load as extra rows. Results: a table
/// on stdout, and results.csv, SCENARIO.md and SCENARIO.svg in --out.
#[derive(Parser, Debug)]
#[command(version)]
pub struct Cli {
    /// Which load to apply [default: every scenario, in this order]
    #[arg(long, value_enum)]
    pub scenario: Option<Scenario>,

    /// Servers to run: `all` (every stage, nginx and the ceilings), or a
    /// list such as `01,03,07,nginx,ceiling`
    #[arg(long, value_name = "LIST", default_value = "all", value_parser = parse_servers)]
    pub stages: Servers,

    /// `close` (one request per connection) or `keep-alive` (request after
    /// request on persistent connections) [default: each server in every
    /// mode it supports; stages 01-06 close after every response]
    #[arg(long, value_name = "MODE", value_parser = parse_mode)]
    pub mode: Option<Mode>,

    /// Client connections, one request in flight each [default: 64 for
    /// health, 8 for the other scenarios]
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..=10_000))]
    pub connections: Option<u32>,

    /// THREADS of stages 03-07 (worker threads; event loops for 07); a
    /// list such as `1,2,4,8` runs each. nginx's workers, the ceilings'
    /// threads and the slow clients (1 and THREADS) follow a single value
    /// [default: the number of CPUs]
    #[arg(long, value_name = "T", value_delimiter = ',', value_parser = clap::value_parser!(u32).range(1..=4096))]
    pub threads: Vec<u32>,

    /// Length of the measurement window of each run, in seconds
    #[arg(long, value_name = "S", default_value = "5", value_parser = seconds)]
    pub duration: Duration,

    /// Load applied before measuring each run, in seconds (0 for none)
    #[arg(long, value_name = "S", default_value = "1", value_parser = seconds)]
    pub warmup: Duration,

    /// Where the stage binaries are [default: target/release]
    #[arg(long, value_name = "DIR")]
    pub bin_dir: Option<PathBuf>,

    /// Where to write results.csv, SCENARIO.md, SCENARIO.svg and README.md
    /// [default: bench/out]
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,

    /// After each run, also load the same server with wrk (same connections
    /// and duration), before and after ours, and show both figures
    #[arg(long)]
    pub wrk: bool,
}

/// Idle persistent connections held open in the idle-connections scenario.
pub const IDLE_CONNECTIONS: u32 = 10_000;

/// A parsed `--stages`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Servers {
    /// The stages, sorted.
    pub stages: Vec<Stage>,
    /// Whether nginx runs (when installed).
    pub nginx: bool,
    /// Whether the ceilings of `../shared/perf` run (when gcc is there).
    pub ceiling: bool,
}

/// Parses `--stages`: `all`, or stage numbers and the names `nginx` and
/// `ceiling`, separated by commas.
fn parse_servers(text: &str) -> Result<Servers, String> {
    let all = text.trim() == "all";
    let items: Vec<&str> = text.split(',').map(str::trim).collect();
    let numbers: Vec<&str> = (items.iter().copied())
        .filter(|item| !["nginx", "ceiling", "all"].contains(item))
        .collect();
    let stages = match (all, numbers.is_empty()) {
        (true, _) => stages::ALL.to_vec(),
        (false, true) => Vec::new(),
        (false, false) => stages::parse_list(&numbers.join(","))
            .map_err(|error| format!("{error}, nginx or ceiling"))?,
    };
    Ok(Servers {
        stages,
        nginx: all || items.contains(&"nginx"),
        ceiling: all || items.contains(&"ceiling"),
    })
}

/// Parses `--mode`.
fn parse_mode(text: &str) -> Result<Mode, String> {
    match text {
        "close" => Ok(Mode::Close),
        "keep-alive" => Ok(Mode::KeepAlive),
        _ => Err("expected close or keep-alive".to_owned()),
    }
}

/// A number of seconds from 0 to an hour.
fn seconds(text: &str) -> Result<Duration, String> {
    match text.parse::<f64>() {
        Ok(seconds) if (0.0..=3600.0).contains(&seconds) => Ok(Duration::from_secs_f64(seconds)),
        _ => Err("expected seconds from 0 to 3600".to_owned()),
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

/// A load the benchmark can apply.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, ValueEnum)]
pub enum Scenario {
    /// GET /health: the cheapest request, so it measures the server itself
    Health,
    /// GET /run-cache-sim?policy=lru&trace=loop: a cache-audit child per
    /// request (stages 05-07), and a paced /health probe beside
    CacheSim,
    /// GET /health while K slow clients hold half-sent requests
    SlowClients,
    /// GET /health, quiet, then while 10,000 idle persistent connections
    /// are held open (stage 07)
    IdleConnections,
}

impl Scenario {
    /// Every scenario, in the order they run.
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
            Scenario::CacheSim => "/run-cache-sim?policy=lru&trace=loop",
            _ => "/health",
        }
    }

    /// Measuring connections without `--connections`: 64 for `/health`,
    /// the heaviest load of the original's measurements; 8 elsewhere, where
    /// 2 cores are saturated long before (simulations) or the point is
    /// latency, not saturation.
    fn default_connections(self) -> u32 {
        if self == Scenario::Health { 64 } else { 8 }
    }

    /// The servers of this scenario among `chosen`, in order: the stages
    /// that can serve it (a simulation needs stage 05, an idle persistent
    /// connection stage 07), then the references: nginx has no simulator;
    /// ka.c answers every request alike, so it is a ceiling for `/health`
    /// only; spawn.c is the ceiling of a simulation.
    fn servers(self, chosen: &Servers) -> Vec<ServerSpec> {
        let serves = |stage: &&Stage| match self {
            Scenario::CacheSim => stage.runs_simulations(),
            Scenario::IdleConnections => stage.keeps_alive(),
            _ => true,
        };
        let stages = chosen
            .stages
            .iter()
            .filter(serves)
            .map(|&stage| ServerSpec::Stage(stage));
        let references = [
            (
                ServerSpec::Nginx,
                chosen.nginx && self != Scenario::CacheSim,
            ),
            (
                ServerSpec::Ka,
                chosen.ceiling && matches!(self, Scenario::Health | Scenario::IdleConnections),
            ),
            (
                ServerSpec::Spawn,
                chosen.ceiling && self == Scenario::CacheSim,
            ),
        ];
        let references = references
            .into_iter()
            .filter(|(_, runs)| *runs)
            .map(|(server, _)| server);
        stages.chain(references).collect()
    }
}

/// What is measured in one run.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ServerSpec {
    /// A stage binary, started for the run.
    Stage(Stage),
    /// nginx from the Debian package, from a generated configuration.
    Nginx,
    /// `../shared/perf/ka.c`: the smallest epoll keep-alive server, the
    /// ceiling for `/health`.
    Ka,
    /// `../shared/perf/spawn.c`: threads that spawn cache-audit and wait,
    /// no HTTP, the ceiling for `/run-cache-sim`. Its row reports spawns/s.
    Spawn,
}

impl ServerSpec {
    /// The connection modes this server supports: stages 01-06 close after
    /// every response, ka.c never closes, spawn.c opens no connection (one
    /// row will do), the others do both.
    fn modes(&self) -> &'static [Mode] {
        match self {
            ServerSpec::Stage(stage) if !stage.keeps_alive() => &[Mode::Close],
            ServerSpec::Ka => &[Mode::KeepAlive],
            ServerSpec::Spawn => &[Mode::Close],
            _ => &[Mode::Close, Mode::KeepAlive],
        }
    }

    /// How the server is named in tables: `03`, `nginx`, `ka.c`, `spawn.c`.
    pub fn label(&self) -> String {
        match self {
            ServerSpec::Stage(stage) => stage.to_string(),
            ServerSpec::Nginx => "nginx".to_owned(),
            ServerSpec::Ka => "ka.c".to_owned(),
            ServerSpec::Spawn => "spawn.c".to_owned(),
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
    /// The THREADS given to the server; `None` for stages 01-02 (no pool).
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
    /// The stage, if this run starts one.
    pub fn stage(&self) -> Option<Stage> {
        match self.server {
            ServerSpec::Stage(stage) => Some(stage),
            _ => None,
        }
    }

    /// Whether this run is spawn.c's: no server, no connections.
    pub fn is_spawn_ceiling(&self) -> bool {
        self.server == ServerSpec::Spawn
    }

    /// The server with its mode, except for a stage that closes and
    /// spawn.c: `nginx (close)`, `07 (keep-alive)`, `03`.
    pub fn long_label(&self) -> String {
        match (&self.server, self.mode) {
            (ServerSpec::Stage(_), Mode::Close) | (ServerSpec::Spawn, _) => self.server.label(),
            (_, mode) => format!("{} ({})", self.server.label(), mode.name()),
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
/// left out and why. `cpus` is the pool size by default; `available` says
/// which reference servers this machine can run.
///
/// Per scenario: each stage (each pool size, K or idle count, then mode),
/// then nginx, then the ceiling.
///
/// # Errors
/// A message when nothing is left to run.
pub fn plan(
    cli: &Cli,
    cpus: u32,
    available: Available,
) -> Result<(Vec<RunSpec>, Vec<String>), String> {
    let scenarios = cli
        .scenario
        .map_or(Scenario::ALL.to_vec(), |scenario| vec![scenario]);
    let modes = cli
        .mode
        .map_or(vec![Mode::Close, Mode::KeepAlive], |mode| vec![mode]);
    // The reference servers' workers and the slow clients' K follow a
    // single --threads value, not a sweep.
    let base_pool = if let [single] = cli.threads[..] {
        single
    } else {
        cpus
    };
    let pools = if cli.threads.is_empty() {
        vec![cpus]
    } else {
        cli.threads.clone()
    };
    let mut runs = Vec::new();
    let mut notes = Vec::new();
    for scenario in scenarios {
        let name = scenario.name();
        let mut servers = scenario.servers(&cli.stages);
        let skipped: Vec<String> = (cli.stages.stages.iter())
            .filter(|&&stage| !servers.contains(&ServerSpec::Stage(stage)))
            .map(Stage::to_string)
            .collect();
        if !skipped.is_empty() {
            let why = if scenario == Scenario::IdleConnections {
                "they close after every response: no idle persistent connection to hold"
            } else {
                "no simulator before stage 05"
            };
            let skipped = skipped.join(", ");
            notes.push(format!("{name}: skipping stage {skipped} ({why})"));
        }
        servers.retain(|server| {
            let (installed, missing) = match server {
                ServerSpec::Nginx => (
                    available.nginx,
                    "nginx is not installed (Debian: apt-get install nginx-light)",
                ),
                ServerSpec::Ka | ServerSpec::Spawn => {
                    (available.ceilings, "../shared/perf or gcc is missing")
                }
                ServerSpec::Stage(_) => (true, ""),
            };
            if !installed {
                notes.push(format!("{name}: no {} row: {missing}", server.label()));
            }
            installed
        });
        let loads: Vec<(u32, u32)> = match scenario {
            Scenario::SlowClients => {
                let mut counts = vec![1, base_pool];
                counts.dedup();
                counts.into_iter().map(|slow| (slow, 0)).collect()
            }
            // The quiet run first: its p99 is what the crowded one is
            // compared with.
            Scenario::IdleConnections => vec![(0, 0), (0, IDLE_CONNECTIONS)],
            _ => vec![(0, 0)],
        };
        for server in servers {
            let server_modes: Vec<Mode> = (modes.iter().copied())
                .filter(|mode| server.modes().contains(mode))
                .collect();
            if server_modes.is_empty() {
                let why = if server == ServerSpec::Ka {
                    "it never closes a connection"
                } else {
                    "it closes after every response"
                };
                notes.push(format!(
                    "{name}: skipping {} in {} mode ({why})",
                    server.label(),
                    modes[0].name()
                ));
            }
            let server_pools: Vec<Option<u32>> = match &server {
                ServerSpec::Stage(stage) if stage.has_pool() => {
                    pools.iter().copied().map(Some).collect()
                }
                ServerSpec::Stage(_) => vec![None],
                _ => vec![Some(base_pool)],
            };
            // spawn.c opens no connection: one row, whatever the load.
            let loads = if server == ServerSpec::Spawn {
                &loads[..1]
            } else {
                &loads[..]
            };
            for &pool in &server_pools {
                for &(slow_clients, idle) in loads {
                    for &mode in &server_modes {
                        runs.push(RunSpec {
                            scenario,
                            server: server.clone(),
                            connections: cli.connections.unwrap_or(scenario.default_connections()),
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
    if runs.is_empty() {
        return Err("nothing to run: no chosen server serves the chosen scenario".to_owned());
    }
    Ok((runs, notes))
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

    /// `SCENARIO SERVER cN tPOOL kSLOW [iIDLE] [ka]` for each run of `line`.
    fn labels(line: &str, available: Available) -> (Vec<String>, Vec<String>) {
        let (runs, notes) = plan(&parse(line), 2, available).unwrap();
        let labels = runs.iter().map(|run| {
            let pool = run.pool.map_or("-".to_owned(), |pool| pool.to_string());
            let mut label = format!(
                "{} {} c{} t{pool} k{}",
                run.scenario.name(),
                run.server.label(),
                run.connections,
                run.slow_clients
            );
            if run.idle > 0 {
                label.push_str(&format!(" i{}", run.idle));
            }
            if run.mode == Mode::KeepAlive {
                label.push_str(" ka");
            }
            label
        });
        (labels.collect(), notes)
    }

    #[test]
    fn defaults() {
        let (labels, notes) = labels("", ALL_THERE);
        // health 11 (01-07, 07 ka, nginx twice, ka.c), cache-sim 5 (05-07,
        // 07 ka, spawn.c), slow-clients 20 (K 1 and 2 of 01-06, 07 and
        // nginx both ways), idle-connections 10 (quiet and crowded: 07 and
        // nginx both ways, ka.c).
        assert_eq!(labels.len(), 11 + 5 + 20 + 10);
        let expected = [
            (0, "health 01 c64 t- k0"),
            (10, "health ka.c c64 t2 k0 ka"),
            (15, "cache-sim spawn.c c8 t2 k0"),
            (17, "slow-clients 01 c8 t- k2"),
            (35, "slow-clients nginx c8 t2 k2 ka"),
            (39, "idle-connections 07 c8 t2 k0 i10000 ka"),
        ];
        for (index, label) in expected {
            assert_eq!(labels[index], label);
        }
        assert!(notes[0].contains("cache-sim: skipping stage 01, 02, 03, 04"));
        assert!(notes[1].contains("idle-connections: skipping stage 01, 02, 03, 04, 05, 06"));
    }

    #[test]
    fn choices() {
        let (labels_, notes) = labels(
            "--scenario health --stages 03,nginx,ceiling",
            Available::default(),
        );
        assert_eq!(labels_, ["health 03 c64 t2 k0"]);
        assert!(
            notes[0].contains("no nginx row: nginx is not installed")
                && notes[1].contains("no ka.c row")
        );
        assert!(
            labels("--scenario health --stages 01,03", Available::default())
                .1
                .is_empty(),
            "not asked for: no note"
        );
        let (labels_, notes) = labels(
            "--scenario health --stages 03,07,ceiling --mode keep-alive",
            ALL_THERE,
        );
        assert_eq!(
            labels_,
            ["health 07 c64 t2 k0 ka", "health ka.c c64 t2 k0 ka"]
        );
        assert!(notes[0].contains("skipping 03 in keep-alive mode"));
        let line = "--scenario health --stages 02,03 --connections 8 --threads 1,4";
        assert_eq!(
            labels(line, ALL_THERE).0,
            [
                "health 02 c8 t- k0",
                "health 03 c8 t1 k0",
                "health 03 c8 t4 k0"
            ]
        );
        let line = "--scenario slow-clients --stages 3 --threads 4";
        assert_eq!(
            labels(line, ALL_THERE).0,
            ["slow-clients 03 c8 t4 k1", "slow-clients 03 c8 t4 k4"]
        );
        assert!(
            plan(&parse("--scenario cache-sim --stages 01,04"), 2, ALL_THERE).is_err(),
            "nothing to run"
        );
    }

    #[test]
    fn rejects_bad_values() {
        for bad in [
            "--stages 8",
            "--stages 03,apache",
            "--connections 0",
            "--warmup -1",
        ] {
            let line = std::iter::once("bench").chain(bad.split(' '));
            assert!(Cli::try_parse_from(line).is_err(), "{bad}");
        }
    }
}
