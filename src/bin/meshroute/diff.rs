//! `meshroute diff`: which requests and connections change where they go between two
//! configurations.

use clap::Args;
use meshroute::CompileOptions;
use meshroute::diff::diff;

use crate::report::load_table;
use crate::style;
use crate::{Exit, Format, Paths};

/// Which requests and connections change their rule, destination, weights or actions between two configurations
///
/// Each class of requests that changes is shown with the decision before and after (weights as
/// the percentages configured, rules by resource and field path) and one request of the class.
/// Connections (VirtualService tls and tcp rules, TLSRoute, TCPRoute) are compared too, each
/// class with one connection as a decide input line.
/// Exits 0 when nothing changes, 1 when something does (as git diff --exit-code), 2 when an
/// input cannot be read or does not compile.
#[derive(Args)]
#[command(after_help = "Examples:
  meshroute diff old/ new/
  git show main:mesh/reviews.yaml | meshroute diff - mesh/reviews.yaml
  meshroute diff -o json before.yaml after.yaml")]
pub struct DiffArgs {
    /// The configuration before (a file, a directory or -)
    #[arg(value_name = "OLD")]
    old: std::path::PathBuf,
    /// The configuration after (a file, a directory or -)
    #[arg(value_name = "NEW")]
    new: std::path::PathBuf,
    /// Output format
    #[arg(short, long, value_enum, default_value_t = Format::Text)]
    output: Format,
}

pub fn run(args: &DiffArgs) -> Exit {
    if args.old.as_os_str() == "-" && args.new.as_os_str() == "-" {
        return Exit::Usage("only one of OLD and NEW can be read from stdin".into());
    }
    let mut tables = Vec::new();
    for (which, path) in [("OLD", &args.old), ("NEW", &args.new)] {
        let paths = Paths::files(vec![path.clone()]);
        match load_table(&paths, &CompileOptions::default(), false) {
            Ok((_, compiled)) => tables.push(compiled.table),
            Err(Exit::Failed) => {
                return Exit::Usage(format!(
                    "{which} ({}) does not compile; nothing compared",
                    path.display()
                ));
            }
            Err(exit) => return exit,
        }
    }
    let d = diff(&tables[0], &tables[1]);
    let text = match args.output {
        Format::Json => format!("{:#}\n", d.to_json()),
        Format::Text => d.to_string(),
    };
    style::out(&text);
    if d.is_empty() {
        Exit::Clean
    } else {
        Exit::Found
    }
}
