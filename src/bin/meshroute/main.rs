//! `meshroute`: check, analyze and try routing configuration (Istio VirtualService,
//! DestinationRule and Gateway; Gateway API Gateway, HTTPRoute and GRPCRoute) without a cluster.
//!
//! Every PATH argument takes files, directories (recursively: `*.yaml`, `*.yml`, `*.json`) or
//! `-` for standard input, multi-document YAML, JSON and `kubectl get -o yaml` lists alike.
//! `check`, `analyze`, `route` and `simulate` also read the live cluster of a kubeconfig
//! context with `--cluster` (feature `cli-cluster`; see `cluster.rs`).
//!
//! Exit status: 0 when the command's answer is clean, 1 when it found what it looks for
//! (errors, findings at `--fail-on`, a changed behaviour, a cluster that cannot be read), 2 on
//! a usage error (a bad flag, a path that cannot be read, `--cluster` in a build without it).

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand, ValueEnum};

mod analyze;
mod check;
mod cluster;
mod decide;
mod diff;
mod inputs;
mod report;
mod route;
mod simulate;
mod style;

#[derive(Parser)]
#[command(
    name = "meshroute",
    version,
    about = "Check routing configuration and see where requests go, without a cluster",
    long_about = "Check routing configuration (Istio VirtualService, DestinationRule, Gateway, \
ServiceEntry, Sidecar and the istio mesh ConfigMap; Gateway API Gateway, HTTPRoute, GRPCRoute, \
TLSRoute and TCPRoute) and see where requests and connections go, without a cluster.\n\n\
Every PATH takes files, directories (recursively: *.yaml, *.yml, *.json) or - for standard input; \
check, analyze, route and simulate also read the live cluster of a kubeconfig context with --cluster.",
    after_help = "Examples:\n  meshroute check manifests/\n  meshroute route examples/bookinfo.yaml http://reviews/ -H 'end-user: jason'\n  kubectl get virtualservices,destinationrules -A -o yaml | meshroute analyze -"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    Check(check::CheckArgs),
    Analyze(analyze::AnalyzeArgs),
    Route(route::RouteArgs),
    Decide(decide::DecideArgs),
    Diff(diff::DiffArgs),
    Simulate(simulate::SimulateArgs),
}

/// Configuration inputs, as every subcommand takes them.
#[derive(Args, Clone)]
pub struct Paths {
    /// Configuration files, directories (recursively *.yaml, *.yml, *.json) or - for stdin
    #[arg(value_name = "PATH", required_unless_present = "cluster")]
    pub paths: Vec<PathBuf>,
    #[command(flatten)]
    pub cluster: cluster::ClusterArgs,
}

impl Paths {
    /// Files and directories only, no cluster.
    pub fn files(paths: Vec<PathBuf>) -> Paths {
        Paths {
            paths,
            cluster: cluster::ClusterArgs::default(),
        }
    }
}

/// Text for people or JSON for programs.
#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    Text,
    Json,
}

/// What a subcommand ends with.
pub enum Exit {
    /// The answer is clean (0).
    Clean,
    /// The answer holds what the command looks for: errors, findings, changes (1).
    Found,
    /// The command could not run: a path that cannot be read, a configuration that does not
    /// load where one is needed (the message says why).
    Usage(String),
    /// The configuration has errors, already printed (1).
    Failed,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Check(a) => check::run(&a),
        Command::Analyze(a) => analyze::run(&a),
        Command::Route(a) => route::run(&a),
        Command::Decide(a) => decide::run(&a),
        Command::Diff(a) => diff::run(&a),
        Command::Simulate(a) => simulate::run(&a),
    };
    match result {
        Exit::Clean => ExitCode::SUCCESS,
        Exit::Found | Exit::Failed => ExitCode::from(1),
        Exit::Usage(msg) => {
            style::error_line(&msg);
            ExitCode::from(2)
        }
    }
}
