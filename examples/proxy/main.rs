//! A working reverse proxy that routes with meshroute: each request is decided as a sidecar's
//! outbound call (or at a Gateway with `--gateway NS/NAME`), sent to an endpoint of the chosen
//! version picked by the DestinationRule's load balancer, with rewrites, header operations,
//! timeouts, retries and mirrors applied; CORS preflights are answered and the CORS and
//! session-persistence response headers written as the library answers them. The admin port serves `/metrics` and `/routes`; the
//! configuration is reloaded when its files change, and a broken one keeps the old table.
//! With `--cluster` (feature `kube`) it follows the live cluster of a kubeconfig context
//! instead of files (`cluster.rs`).
//!
//! ```sh
//! cargo run --release --example proxy -- --listen 127.0.0.1:8080 --admin 127.0.0.1:15000 \
//!     --demo-backends examples/proxy.yaml
//! curl -H 'Host: reviews' -H 'end-user: jason' http://127.0.0.1:8080/reviews/1
//! curl http://127.0.0.1:15000/metrics
//! cargo run --release --example proxy --features k8s-v1_33 -- --cluster -n shop
//! ```

mod admin;
mod app;
#[cfg(feature = "kube")]
mod cluster;
mod forward;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;

use clap::Parser;

/// Routes HTTP traffic with Istio and Gateway API resources.
#[derive(Debug, Parser)]
#[command(name = "proxy")]
struct Args {
    /// Address to serve traffic on.
    #[arg(long, default_value = "127.0.0.1:8080")]
    listen: SocketAddr,
    /// Address of the admin server (`/metrics`, `/routes`).
    #[arg(long, default_value = "127.0.0.1:15000")]
    admin: SocketAddr,
    /// The client's namespace, as a sidecar's workload runs in it (default: with --cluster,
    /// the context's; else default). With --cluster, also the only namespace watched, unless -A.
    #[arg(short = 'n', long, value_name = "NS")]
    namespace: Option<String>,
    /// A label of the client workload, `key=value` (repeatable).
    #[arg(long = "label", value_name = "KEY=VALUE", value_parser = label)]
    labels: Vec<(String, String)>,
    /// Decide at this Gateway (`NAMESPACE/NAME`) instead of as a sidecar.
    #[arg(long, value_name = "NS/NAME", value_parser = gateway)]
    gateway: Option<(String, String)>,
    /// Do not reload when the configuration files change.
    #[arg(long, conflicts_with = "cluster")]
    no_watch: bool,
    /// Do not write the access log.
    #[arg(long)]
    quiet: bool,
    /// Also answer for every endpoint of the configuration on its address and port, with its
    /// `app` and `version` labels: demo backends for a config that points at local addresses.
    #[arg(long)]
    demo_backends: bool,
    /// Configuration files or directories (`*.yaml`, `*.yml`, `*.json`): the routing
    /// resources, and the Services, EndpointSlices and Pods the endpoints come from.
    #[arg(required_unless_present = "cluster", value_name = "CONFIG")]
    configs: Vec<PathBuf>,
    /// Follow the live cluster of the kubeconfig context (KUBECONFIG or ~/.kube/config)
    /// instead of CONFIG files (needs the kube feature).
    #[arg(long, conflicts_with = "configs", help_heading = "Cluster")]
    cluster: bool,
    /// With --cluster: the kubeconfig context (default: the current context).
    #[arg(long, value_name = "NAME", help_heading = "Cluster")]
    context: Option<String>,
    /// With --cluster: watch every namespace (the client's stays -n's, else the context's).
    #[arg(short = 'A', long, help_heading = "Cluster")]
    all_namespaces: bool,
}

fn label(s: &str) -> Result<(String, String), String> {
    s.split_once('=')
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .ok_or_else(|| format!("{s:?} is not KEY=VALUE"))
}

fn gateway(s: &str) -> Result<(String, String), String> {
    match s.split_once('/') {
        Some((ns, name)) if !ns.is_empty() && !name.is_empty() => {
            Ok((ns.to_string(), name.to_string()))
        }
        _ => Err(format!("{s:?} is not NAMESPACE/NAME")),
    }
}

fn main() -> std::process::ExitCode {
    let args = Args::parse();
    if !args.cluster && (args.context.is_some() || args.all_namespaces) {
        // Checked here: clap's `requires = "cluster"` let `-A CONFIG` through in this command.
        use clap::CommandFactory;
        Args::command()
            .error(
                clap::error::ErrorKind::MissingRequiredArgument,
                "--context and -A (--all-namespaces) need --cluster",
            )
            .exit();
    }
    if args.cluster && cfg!(not(feature = "kube")) {
        eprintln!(
            "proxy: --cluster: this proxy was built without the kube feature (build it with \
             --features k8s-v1_33)"
        );
        return std::process::ExitCode::from(2);
    }
    let demo_backends = args.demo_backends;
    let cluster = args.cluster;
    #[cfg(not(feature = "kube"))]
    let _ = (args.context, args.all_namespaces);
    #[cfg(feature = "kube")]
    let target = cluster::Target {
        context: args.context,
        namespace: args.namespace.clone(),
        all_namespaces: args.all_namespaces,
    };
    let options = app::Options {
        listen: args.listen,
        admin: args.admin,
        configs: args.configs,
        namespace: args.namespace.unwrap_or_else(|| "default".into()),
        labels: args.labels.into_iter().collect::<BTreeMap<_, _>>(),
        gateway: args.gateway,
        watch: !args.no_watch && !cluster,
        access_log: !args.quiet,
        seed: None,
    };
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("proxy: cannot start the runtime: {e}");
            return std::process::ExitCode::FAILURE;
        }
    };
    runtime.block_on(async {
        let started = if cluster {
            #[cfg(feature = "kube")]
            {
                cluster::start(options, target).await
            }
            #[cfg(not(feature = "kube"))]
            {
                Err(String::from("proxy: --cluster needs the kube feature"))
            }
        } else {
            app::start(options).await
        };
        let running = match started {
            Ok(r) => r,
            Err(e) => {
                eprintln!("{e}");
                return std::process::ExitCode::FAILURE;
            }
        };
        let _backends = if demo_backends {
            match app::demo_backends(&running.state).await {
                Ok(tasks) => tasks,
                Err(e) => {
                    eprintln!("{e}");
                    return std::process::ExitCode::FAILURE;
                }
            }
        } else {
            Vec::new()
        };
        eprintln!(
            "proxy: listening on {}, admin on {}",
            running.listen, running.admin
        );
        let _ = tokio::signal::ctrl_c().await;
        drop(running);
        std::process::ExitCode::SUCCESS
    })
}
