//! The command line, and the list of runs it asks for.

use std::path::PathBuf;
use std::time::Duration;

use clap::{Parser, ValueEnum};

use crate::stages::{self, Stage};
use crate::url::HttpUrl;

/// Runs NetServe's stages one after the other under the same load and
/// compares throughput, latency, threads and memory.
///
/// Each stage binary is started from target/release on port 0 with --quiet
/// (we measure the server, not the terminal its access log would go to),
/// loaded by a closed loop of client threads that each send one request per
/// connection, then stopped with SIGTERM. Results: a table on stdout, and
/// results.csv, SCENARIO.md and SCENARIO.svg in --out.
#[derive(Parser, Debug)]
#[command(version)]
pub struct Cli {
    /// Stages to run: `all`, or a list such as `01,03,06`
    #[arg(long, value_name = "LIST", value_parser = parse_stage_list)]
    pub stages: Option<StageList>,

    /// Which load to apply
    #[arg(long, value_enum, default_value = "all")]
    pub scenario: ScenarioChoice,

    /// Client connections (= client threads), one request in flight each;
    /// a list such as `8,64` runs each
    /// [default: 64 for health, 8 for cache-sim and slow-clients]
    #[arg(long, value_name = "N", value_delimiter = ',', value_parser = clap::value_parser!(u32).range(1..=10_000))]
    pub connections: Vec<u32>,

    /// Length of the measurement window of each run, in seconds
    #[arg(long, value_name = "S", default_value = "5", value_parser = positive_seconds)]
    pub duration: Duration,

    /// Load applied before measuring each run, in seconds (0 for none)
    #[arg(long, value_name = "S", default_value = "1", value_parser = seconds_or_zero)]
    pub warmup: Duration,

    /// Longest wait for a connection, a write or a response; longer counts
    /// as a timeout error, in seconds
    #[arg(long, value_name = "S", default_value = "2", value_parser = positive_seconds)]
    pub timeout: Duration,

    /// Worker threads of stages 03-06 (their THREADS argument)
    /// [default: the stage's own default, the number of CPUs]
    #[arg(long, value_name = "T", value_parser = clap::value_parser!(u32).range(1..=4096))]
    pub threads: Option<u32>,

    /// Run stages 03-06 at each of these pool sizes, e.g. `1,2,4,8,16`
    #[arg(long, value_name = "LIST", value_delimiter = ',', value_parser = clap::value_parser!(u32).range(1..=4096))]
    pub sweep_threads: Vec<u32>,

    /// slow-clients scenario: how many slow clients (K) hold half-sent
    /// requests; a list runs each [default: 1 and the pool size]
    #[arg(long, value_name = "K", value_delimiter = ',', value_parser = clap::value_parser!(u32).range(0..=1000))]
    pub slow_clients: Vec<u32>,

    /// Benchmark a server that is already running instead of the stages,
    /// e.g. http://127.0.0.1:8080 (each scenario sends its own path) or
    /// http://127.0.0.1:8080/health (this path for every scenario)
    #[arg(long, value_name = "URL", value_parser = HttpUrl::parse)]
    pub url: Option<HttpUrl>,

    /// With --url: the server's process id, to sample its threads, memory
    /// and CPU from /proc
    #[arg(long, value_name = "PID", requires = "url")]
    pub pid: Option<u32>,

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

/// A parsed `--stages` (a newtype, so clap sees one value, not many).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StageList(pub Vec<Stage>);

fn parse_stage_list(text: &str) -> Result<StageList, String> {
    stages::parse_list(text).map(StageList)
}

/// `--scenario`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum ScenarioChoice {
    /// health, then cache-sim, then slow-clients
    All,
    /// GET /health
    Health,
    /// GET /run-cache-sim?policy=lru&trace=loop (stages 05-06)
    CacheSim,
    /// K slow clients hold half-sent requests while N clients measure /health
    SlowClients,
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
}

impl Scenario {
    /// Every scenario, in the order `all` runs them.
    pub const ALL: [Scenario; 3] = [Scenario::Health, Scenario::CacheSim, Scenario::SlowClients];

    /// The name used on the command line and in file names.
    pub fn name(self) -> &'static str {
        match self {
            Scenario::Health => "health",
            Scenario::CacheSim => "cache-sim",
            Scenario::SlowClients => "slow-clients",
        }
    }

    /// The path and query each measuring request asks for.
    pub fn path(self) -> &'static str {
        match self {
            Scenario::Health | Scenario::SlowClients => "/health",
            Scenario::CacheSim => "/run-cache-sim?policy=lru&trace=loop",
        }
    }

    /// Measuring connections when `--connections` is not given: 64 for
    /// `/health`, the heaviest load of the original's measurements; 8 for a
    /// simulation, where 2 cores are saturated long before; 8 for the slow
    /// clients scenario, where the point is latency, not saturation.
    pub fn default_connections(self) -> u32 {
        match self {
            Scenario::Health => 64,
            Scenario::CacheSim | Scenario::SlowClients => 8,
        }
    }

    /// Whether `stage` can serve this scenario.
    pub fn applies_to(self, stage: Stage) -> bool {
        match self {
            Scenario::CacheSim => stage.runs_simulations(),
            Scenario::Health | Scenario::SlowClients => true,
        }
    }
}

/// What is being measured in one run.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ServerSpec {
    /// A stage binary, started for the run.
    Stage(Stage),
    /// A server already running.
    Url(HttpUrl),
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
}

impl RunSpec {
    /// The request path of this run.
    pub fn path(&self) -> &str {
        match &self.server {
            ServerSpec::Url(url) => url.path.as_deref().unwrap_or(self.scenario.path()),
            ServerSpec::Stage(_) => self.scenario.path(),
        }
    }

    /// The stage, if this run starts one.
    pub fn stage(&self) -> Option<Stage> {
        match &self.server {
            ServerSpec::Stage(stage) => Some(*stage),
            ServerSpec::Url(_) => None,
        }
    }

    /// How the server is named in tables: `03`, or the URL's `HOST:PORT`.
    pub fn server_label(&self) -> String {
        match &self.server {
            ServerSpec::Stage(stage) => stage.to_string(),
            ServerSpec::Url(url) => url.authority.clone(),
        }
    }
}

/// The runs the command line asks for, in order, and notes about what was
/// left out and why. `cpus` is the pool size the stages default to.
///
/// # Errors
/// A message when nothing is left to run.
pub fn plan(cli: &Cli, cpus: u32) -> Result<(Vec<RunSpec>, Vec<String>), String> {
    let scenarios: Vec<Scenario> = match cli.scenario {
        ScenarioChoice::All => Scenario::ALL.to_vec(),
        ScenarioChoice::Health => vec![Scenario::Health],
        ScenarioChoice::CacheSim => vec![Scenario::CacheSim],
        ScenarioChoice::SlowClients => vec![Scenario::SlowClients],
    };
    let base_pool = cli.threads.unwrap_or(cpus);
    let pools: Vec<u32> = if cli.sweep_threads.is_empty() {
        vec![base_pool]
    } else {
        cli.sweep_threads.clone()
    };
    let slow_counts: Vec<u32> = if cli.slow_clients.is_empty() {
        let mut counts = vec![1, base_pool];
        counts.dedup();
        counts
    } else {
        cli.slow_clients.clone()
    };

    let mut runs = Vec::new();
    let mut notes = Vec::new();
    for &scenario in &scenarios {
        let connections = if cli.connections.is_empty() {
            vec![scenario.default_connections()]
        } else {
            cli.connections.clone()
        };
        let slow = if scenario == Scenario::SlowClients {
            slow_counts.clone()
        } else {
            vec![0]
        };
        let servers: Vec<(ServerSpec, Vec<Option<u32>>)> = match &cli.url {
            Some(url) => vec![(ServerSpec::Url(url.clone()), vec![None])],
            None => {
                let chosen = cli
                    .stages
                    .as_ref()
                    .map_or(&stages::ALL[..], |list| &list.0[..]);
                let (applicable, skipped): (Vec<Stage>, Vec<Stage>) = chosen
                    .iter()
                    .partition(|stage| scenario.applies_to(**stage));
                if !skipped.is_empty() {
                    let names: Vec<String> = skipped.iter().map(Stage::to_string).collect();
                    notes.push(format!(
                        "{}: skipping stage {} (no simulator before stage 05)",
                        scenario.name(),
                        names.join(", ")
                    ));
                }
                applicable
                    .into_iter()
                    .map(|stage| {
                        let pools = if stage.has_pool() {
                            pools.iter().copied().map(Some).collect()
                        } else {
                            vec![None]
                        };
                        (ServerSpec::Stage(stage), pools)
                    })
                    .collect()
            }
        };
        for (server, server_pools) in &servers {
            for &connections in &connections {
                for &pool in server_pools {
                    for &slow_clients in &slow {
                        runs.push(RunSpec {
                            scenario,
                            server: server.clone(),
                            connections,
                            pool,
                            slow_clients,
                        });
                    }
                }
            }
        }
    }
    if runs.is_empty() {
        return Err("nothing to run: no chosen stage serves the chosen scenario".to_owned());
    }
    Ok((runs, notes))
}

/// A number of seconds above 0, at most an hour.
fn positive_seconds(text: &str) -> Result<Duration, String> {
    match text.parse::<f64>() {
        Ok(seconds) if seconds > 0.0 && seconds <= 3600.0 => Ok(Duration::from_secs_f64(seconds)),
        _ => Err("expected seconds above 0, at most 3600".to_owned()),
    }
}

/// A number of seconds from 0 to an hour.
fn seconds_or_zero(text: &str) -> Result<Duration, String> {
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

    fn labels(runs: &[RunSpec]) -> Vec<String> {
        runs.iter()
            .map(|run| {
                format!(
                    "{} {} c{} t{} k{}",
                    run.scenario.name(),
                    run.server_label(),
                    run.connections,
                    run.pool.map_or("-".to_owned(), |pool| pool.to_string()),
                    run.slow_clients
                )
            })
            .collect()
    }

    #[test]
    fn defaults() {
        let cli = parse("");
        assert_eq!(cli.duration, Duration::from_secs(5));
        assert_eq!(cli.warmup, Duration::from_secs(1));
        assert_eq!(cli.timeout, Duration::from_secs(2));
        let (runs, notes) = plan(&cli, 2).unwrap();
        let labels = labels(&runs);
        assert_eq!(labels.len(), 7 + 3 + 14);
        assert_eq!(labels[0], "health 01 c64 t- k0");
        assert_eq!(labels[2], "health 03 c64 t2 k0");
        assert_eq!(labels[7], "cache-sim 05 c8 t2 k0");
        assert_eq!(labels[10], "slow-clients 01 c8 t- k1");
        assert_eq!(labels[11], "slow-clients 01 c8 t- k2");
        assert_eq!(labels[23], "slow-clients 07 c8 t2 k2");
        assert_eq!(notes.len(), 1);
        assert!(notes[0].contains("01, 02, 03, 04"));
    }

    #[test]
    fn lists_and_sweeps() {
        let cli = parse("--scenario health --stages 02,03 --connections 8,64 --sweep-threads 1,4");
        let (runs, _) = plan(&cli, 2).unwrap();
        assert_eq!(
            labels(&runs),
            [
                "health 02 c8 t- k0",
                "health 02 c64 t- k0",
                "health 03 c8 t1 k0",
                "health 03 c8 t4 k0",
                "health 03 c64 t1 k0",
                "health 03 c64 t4 k0",
            ]
        );
    }

    #[test]
    fn slow_clients_follow_the_pool_size() {
        let cli = parse("--scenario slow-clients --stages 3 --threads 4");
        let (runs, _) = plan(&cli, 2).unwrap();
        assert_eq!(
            labels(&runs),
            ["slow-clients 03 c8 t4 k1", "slow-clients 03 c8 t4 k4"]
        );
        let cli = parse("--scenario slow-clients --stages 3 --slow-clients 0,16");
        let (runs, _) = plan(&cli, 2).unwrap();
        assert_eq!(
            labels(&runs),
            ["slow-clients 03 c8 t2 k0", "slow-clients 03 c8 t2 k16"]
        );
    }

    #[test]
    fn urls_replace_the_stages() {
        let cli = parse("--url http://127.0.0.1:8080 --scenario cache-sim --pid 42");
        let (runs, notes) = plan(&cli, 2).unwrap();
        assert!(notes.is_empty());
        assert_eq!(labels(&runs), ["cache-sim 127.0.0.1:8080 c8 t- k0"]);
        assert_eq!(runs[0].path(), "/run-cache-sim?policy=lru&trace=loop");
        let cli = parse("--url http://127.0.0.1:8080/health --scenario cache-sim");
        assert_eq!(plan(&cli, 2).unwrap().0[0].path(), "/health");
    }

    #[test]
    fn nothing_to_run_is_an_error() {
        let cli = parse("--scenario cache-sim --stages 01,04");
        assert!(plan(&cli, 2).is_err());
    }

    #[test]
    fn rejects_bad_values() {
        let parse = |line: &str| {
            Cli::try_parse_from(std::iter::once("bench").chain(line.split_whitespace()))
        };
        assert!(parse("--stages 8").is_err());
        assert!(parse("--connections 0").is_err());
        assert!(parse("--duration 0").is_err());
        assert!(parse("--warmup -1").is_err());
        assert!(parse("--url ftp://x").is_err());
        assert!(parse("--pid 42").is_err(), "--pid needs --url");
        assert!(parse("--scenario everything").is_err());
        assert!(parse("--warmup 0").is_ok());
    }
}
