//! Checks configuration files before they ship: rules that can never match, hosts several
//! VirtualServices claim, undefined subsets, subsets that select no endpoint, all-zero weights,
//! Gateway API routes that do not attach, and every validation error
//! ([`meshroute::analyze`]; its module docs list every code).
//!
//! ```text
//! cargo run --example analyze -- [--json] [--endpoints FILE]... CONFIG...
//! ```
//!
//! Output: one line per finding, `severity[code] (ISTxxxx): Kind namespace/name: path: message`,
//! then a summary line; with `--json`, one JSON object `{"findings": [{"code", "istio_code",
//! "severity", "resource": {"kind", "namespace", "name"} or null, "path", "message"}],
//! "summary": {"errors", "warnings", "notes"}}`.
//!
//! Endpoints (`--endpoints FILE`: EndpointSlice, Pod and Service resources; such resources in
//! the CONFIG files count too) let the analysis check DestinationRule subsets against the
//! labels of the endpoints of their host.
//!
//! Exit status: 0 when there is no finding of severity warning or error (notes allowed), 1 when
//! there is one, 2 when the input cannot be read (a missing file, YAML that does not parse, a
//! bad argument).

use meshroute::CompileOptions;
use meshroute::Config;
use meshroute::analyze::analyze;
use meshroute::registry::Registry;

fn main() {
    std::process::exit(match run() {
        Ok(clean) => i32::from(!clean),
        Err(msg) => {
            eprintln!("{msg}");
            2
        }
    });
}

fn usage() -> String {
    "usage: analyze [--json] [--endpoints FILE]... CONFIG...".to_string()
}

/// Whether the configuration is clean.
fn run() -> Result<bool, String> {
    let mut json = false;
    let mut files = Vec::new();
    let mut endpoint_files = Vec::new();
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--json" => json = true,
            "--endpoints" => endpoint_files.push(args.next().ok_or_else(usage)?),
            "-h" | "--help" => return Err(usage()),
            s if s.starts_with("--") => return Err(format!("unknown option {s:?}\n{}", usage())),
            _ => files.push(a),
        }
    }
    if files.is_empty() {
        return Err(usage());
    }
    let mut config = Config::new();
    for f in &files {
        config.add_file(f).map_err(|e| e.to_string())?;
    }
    let options = CompileOptions::default();
    let mut endpoint_config = config.clone();
    for f in &endpoint_files {
        endpoint_config.add_file(f).map_err(|e| e.to_string())?;
    }
    let (registry, notes) = Registry::from_config(&endpoint_config, &(&options).into());
    for d in notes
        .iter()
        .filter(|d| d.severity >= meshroute::Severity::Warning)
    {
        eprintln!("{d}");
    }
    let endpoints = registry.hosts().next().is_some().then_some(&registry);
    let analysis = analyze(&config, &options, endpoints);
    if json {
        println!("{}", analysis.to_json());
    } else {
        print!("{}", analysis.to_text());
    }
    Ok(analysis.is_clean())
}
