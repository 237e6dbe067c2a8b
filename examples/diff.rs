//! Change impact of a configuration change: which classes of requests change their decision
//! (rule, destination, weights, actions) between two configurations, each with a witness
//! request and the decision before and after.
//!
//! ```text
//! cargo run --example diff -- OLD NEW [--json]
//! ```
//!
//! OLD and NEW are YAML or JSON files (multi-document, `kind: List`). Exits 0 when no request
//! changes its decision, 1 when some do, 2 when a file cannot be read or does not compile.

use std::io::Write;

use meshroute::diff::diff;
use meshroute::{CompileOptions, Config, Table, compile};

fn load(path: &str) -> Result<Table, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("{path}: {e}"))?;
    let config = Config::from_str(&text, path).map_err(|e| format!("{path}: {e}"))?;
    let compiled = compile(&config, &CompileOptions::default()).map_err(|e| e.to_string())?;
    let errors: Vec<String> = compiled.errors().map(ToString::to_string).collect();
    if !errors.is_empty() {
        return Err(errors.join("\n"));
    }
    Ok(compiled.table)
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let json = args.iter().any(|a| a == "--json");
    let files: Vec<&String> = args.iter().filter(|a| *a != "--json").collect();
    let [old, new] = files[..] else {
        eprintln!("usage: diff OLD NEW [--json]");
        std::process::exit(2);
    };
    let (old, new) = match (load(old), load(new)) {
        (Ok(o), Ok(n)) => (o, n),
        (Err(e), _) | (_, Err(e)) => {
            eprintln!("{e}");
            std::process::exit(2);
        }
    };
    let d = diff(&old, &new);
    let text = if json {
        format!("{:#}\n", d.to_json())
    } else {
        d.to_string()
    };
    // A closed pipe (`| head`) is not an error of the diff.
    let _ = std::io::stdout().write_all(text.as_bytes());
    std::process::exit(i32::from(!d.is_empty()));
}
