//! `--cluster`: the live cluster of a kubeconfig context as one more input, read once (a list
//! per kind, no watch) by [`meshroute::cluster::snapshot`], as `istioctl analyze` reads it.
//!
//! The kubeconfig is `KUBECONFIG` (a list of files, merged) or `~/.kube/config`; the context
//! is `--context` or the kubeconfig's current context. The namespace is `-n`, all of them with
//! `-A`, else the context's namespace, else `default` (as istioctl and kubectl choose it).
//! Built without the `cli-cluster` feature, the flags exist (the help is the same) and
//! `--cluster` is a usage error that says so. A list the API server refuses (403 Forbidden,
//! 401) fails the command with the kind, the code and the server's message, as `kubectl get`
//! does: a partial view of the cluster would be checked as if it were whole.

use clap::Args;
use meshroute::Config;

/// The cluster flags, as every subcommand that reads configuration takes them.
#[derive(Args, Clone, Default)]
pub struct ClusterArgs {
    /// Also read the live cluster of the kubeconfig context (KUBECONFIG or ~/.kube/config)
    #[arg(long, help_heading = "Cluster")]
    pub cluster: bool,
    /// With --cluster: the kubeconfig context (default: the current context)
    #[arg(
        long,
        value_name = "NAME",
        requires = "cluster",
        help_heading = "Cluster"
    )]
    pub context: Option<String>,
    /// With --cluster: read only this namespace (default: the context's, else default)
    #[arg(
        short = 'n',
        long,
        value_name = "NS",
        requires = "cluster",
        conflicts_with = "all_namespaces",
        help_heading = "Cluster"
    )]
    pub namespace: Option<String>,
    /// With --cluster: read every namespace
    #[arg(short = 'A', long, requires = "cluster", help_heading = "Cluster")]
    pub all_namespaces: bool,
}

/// The configuration the cluster holds, and what it was read from, as the summaries say it
/// (`context kind-shop, namespace shop`).
pub struct Snapshot {
    pub config: Config,
    pub description: String,
}

/// Why the cluster was not read.
pub enum Failure {
    /// The cluster flags cannot be used (exit 2).
    #[cfg_attr(feature = "cli-cluster", allow(dead_code))]
    Usage(String),
    /// The kubeconfig or the API server failed (exit 1); the message names the context.
    #[cfg_attr(not(feature = "cli-cluster"), allow(dead_code))]
    Cluster(String),
}

/// Reads the cluster the flags name.
#[cfg(feature = "cli-cluster")]
pub fn read(args: &ClusterArgs) -> Result<Snapshot, Failure> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| Failure::Cluster(format!("--cluster: cannot start the client: {e}")))?;
    runtime.block_on(read_async(args))
}

#[cfg(feature = "cli-cluster")]
async fn read_async(args: &ClusterArgs) -> Result<Snapshot, Failure> {
    use kube::config::{KubeConfigOptions, Kubeconfig};
    use meshroute::cluster::{ClusterOptions, snapshot};

    let kubeconfig = Kubeconfig::read()
        .map_err(|e| Failure::Cluster(format!("--cluster: cannot read the kubeconfig: {e}")))?;
    let context = match args.context.clone().or(kubeconfig.current_context.clone()) {
        Some(c) => c,
        None => {
            return Err(Failure::Cluster(
                "--cluster: the kubeconfig has no current context; name one with --context".into(),
            ));
        }
    };
    if !kubeconfig.contexts.iter().any(|c| c.name == context) {
        let known: Vec<&str> = kubeconfig
            .contexts
            .iter()
            .map(|c| c.name.as_str())
            .collect();
        return Err(Failure::Cluster(format!(
            "--cluster: context {context}: the kubeconfig has no such context (it has: {})",
            known.join(", ")
        )));
    }
    let options = KubeConfigOptions {
        context: Some(context.clone()),
        ..KubeConfigOptions::default()
    };
    let config = kube::Config::from_custom_kubeconfig(kubeconfig, &options)
        .await
        .map_err(|e| Failure::Cluster(format!("--cluster: context {context}: {e}")))?;
    let server = config.cluster_url.to_string();
    let (scope, described) = if args.all_namespaces {
        (
            ClusterOptions::default().all_namespaces(),
            "all namespaces".to_string(),
        )
    } else {
        let ns = args
            .namespace
            .clone()
            .unwrap_or_else(|| config.default_namespace.clone());
        (
            ClusterOptions::default().namespace(&ns),
            format!("namespace {ns}"),
        )
    };
    let failed = |e: &dyn std::error::Error| {
        Failure::Cluster(format!(
            "--cluster: context {context} ({server}): {}",
            chain(e)
        ))
    };
    let client = kube::Client::try_from(config).map_err(|e| failed(&e))?;
    // The list error says the kind, the HTTP code and the API server's message itself.
    let config = snapshot(&client, &scope)
        .await
        .map_err(|e| Failure::Cluster(format!("--cluster: context {context} ({server}): {e}")))?;
    Ok(Snapshot {
        config,
        description: format!("context {context}, {described}"),
    })
}

/// An error and its causes on one line (`a: b: c`), a cause left out where the message
/// already says it.
#[cfg(feature = "cli-cluster")]
fn chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        let said = s.to_string();
        if !text.contains(&said) {
            text.push_str(": ");
            text.push_str(&said);
        }
        source = s.source();
    }
    text.replace('\n', " ")
}

/// Built without the `cli-cluster` feature: `--cluster` is a usage error.
#[cfg(not(feature = "cli-cluster"))]
pub fn read(_: &ClusterArgs) -> Result<Snapshot, Failure> {
    Err(Failure::Usage(
        "--cluster: this meshroute was built without the cluster feature (build it with \
         --features cli-cluster)"
            .into(),
    ))
}
