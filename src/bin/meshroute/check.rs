//! `meshroute check`: load and compile, and print every error where it is.

use clap::Args;
use meshroute::CompileOptions;

use crate::report::{Level, Line};
use crate::style::{self, GOOD, paint};
use crate::{Exit, Paths, inputs};

/// Load and compile configuration; print every error where it is
///
/// Each error is printed as FILE:LINE:COL: error: KIND NS/NAME: FIELD.PATH: message. Exits 0 when every resource compiles, 1 on any error (or, with --strict, any warning), 2 on
/// a usage error. Warnings are printed but do not fail without --strict.
#[derive(Args)]
#[command(after_help = "Examples:
  meshroute check manifests/
  meshroute check --strict virtual-service.yaml destination-rule.yaml
  meshroute check --cluster -n shop
  kubectl get virtualservices,destinationrules -A -o yaml | meshroute check -")]
pub struct CheckArgs {
    #[command(flatten)]
    paths: Paths,
    /// Fail on warnings too
    #[arg(long)]
    strict: bool,
    /// Also print notes (such as resources of kinds meshroute does not route with)
    #[arg(short, long)]
    verbose: bool,
}

pub fn run(args: &CheckArgs) -> Exit {
    let (sources, loaded) = match inputs::read_and_load(&args.paths) {
        Ok(x) => x,
        Err(exit) => return exit,
    };
    let compiled = match meshroute::compile(&loaded.config, &CompileOptions::default()) {
        Ok(c) => c,
        Err(errors) => {
            // Not strict: compile does not fail; print what it says anyway.
            for e in &errors.0 {
                style::out(&format!("{}\n", Line::of_error(e, &loaded).render()));
            }
            return Exit::Found;
        }
    };
    let mut lines: Vec<Line> = loaded
        .syntax_errors
        .iter()
        .chain(compiled.errors())
        .map(|e| Line::of_error(e, &loaded))
        .collect();
    lines.extend(
        compiled
            .diagnostics
            .iter()
            .map(|d| Line::of_diagnostic(d, &loaded))
            .filter(|l| args.verbose || l.level >= Level::Warning),
    );
    lines.sort_by_key(|l| crate::report::place_key(l, &loaded.sources));
    let count = |level| lines.iter().filter(|l| l.level == level).count();
    let (errors, warnings) = (count(Level::Error), count(Level::Warning));
    let mut text = String::new();
    for l in &lines {
        text.push_str(&l.render());
        text.push('\n');
    }
    let resources = loaded.config.resources.len() + loaded.config.rejected.len();
    let read_from = match &loaded.cluster {
        None => plural(sources.len(), "file"),
        Some(cluster) if sources.is_empty() => format!("the cluster ({cluster})"),
        Some(cluster) => format!(
            "the cluster ({cluster}) and {}",
            plural(sources.len(), "file")
        ),
    };
    let summary = format!(
        "{} in {read_from}: {}, {}",
        plural(resources, "resource"),
        plural(errors, "error"),
        plural(warnings, "warning"),
    );
    let failed = errors > 0 || args.strict && warnings > 0;
    text.push_str(&if failed {
        summary
    } else {
        paint(GOOD, summary)
    });
    text.push('\n');
    style::out(&text);
    if failed { Exit::Found } else { Exit::Clean }
}

pub fn plural(n: usize, word: &str) -> String {
    format!("{n} {word}{}", if n == 1 { "" } else { "s" })
}
