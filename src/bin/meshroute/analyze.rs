//! `meshroute analyze`: the findings of [`meshroute::analyze`] with their files and lines, as
//! text, JSON or SARIF 2.1.0.

use std::path::PathBuf;

use clap::{Args, ValueEnum};
use meshroute::CompileOptions;
use meshroute::analyze::{Finding, Level as FindingLevel, analyze};
use serde_json::{Value, json};

use crate::inputs::{self, Loaded};
use crate::report::{Level, Line, locate};
use crate::style::{self, GOOD, paint};
use crate::{Exit, Paths};

/// Find rules that never match, conflicting hosts, undefined subsets and other mistakes
///
/// Finds rules that can never match, hosts several VirtualServices claim, undefined subsets,
/// subsets without endpoints, all-zero weights, Gateway API routes that do not attach, and every
/// validation error. Each finding has a stable code (and Istio's analyzer code where one exists, e.g. IST0101),
/// a severity, the file and line, the resource and the field path.
#[derive(Args)]
#[command(after_help = "Examples:
  meshroute analyze manifests/
  meshroute analyze -o sarif manifests/ > meshroute.sarif
  meshroute analyze --cluster -A
  meshroute analyze --endpoints endpoints.yaml --fail-on warning bookinfo.yaml")]
pub struct AnalyzeArgs {
    #[command(flatten)]
    paths: Paths,
    /// Output format
    #[arg(short, long, value_enum, default_value_t = Output::Text)]
    output: Output,
    /// The least severity that makes the exit status 1
    #[arg(long, value_enum, default_value_t = FailOn::Error)]
    fail_on: FailOn,
    /// EndpointSlice, Pod and Service resources, to check subsets against the endpoints' labels
    /// (such resources among PATH count too)
    #[arg(long, value_name = "PATH")]
    endpoints: Vec<PathBuf>,
}

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Output {
    Text,
    Json,
    Sarif,
}

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
enum FailOn {
    Warning,
    Error,
}

pub fn run(args: &AnalyzeArgs) -> Exit {
    let loaded = match inputs::read_and_load(&args.paths) {
        Ok((_, loaded)) => loaded,
        Err(exit) => return exit,
    };
    let options = CompileOptions::default();
    let registry = match crate::report::registry(&loaded, &args.endpoints) {
        Ok(r) => r,
        Err(exit) => return exit,
    };
    let endpoints = registry.hosts().next().is_some().then_some(&registry);
    let analysis = analyze(&loaded.config, &options, endpoints);
    // Inputs that did not parse at all are errors of the analysis too.
    let mut findings: Vec<Located> = loaded
        .syntax_errors
        .iter()
        .map(|e| Located::syntax(Line::of_error(e, &loaded)))
        .collect();
    findings.extend(analysis.findings().iter().map(|f| Located::of(f, &loaded)));
    findings.sort_by_key(|f| crate::report::place_key(&f.line, &loaded.sources));
    let worst = findings.iter().map(|f| f.line.level).max();
    let text = match args.output {
        Output::Text => text(&findings),
        Output::Json => format!("{:#}\n", json_of(&findings)),
        Output::Sarif => format!("{:#}\n", sarif(&findings)),
    };
    style::out(&text);
    let threshold = match args.fail_on {
        FailOn::Warning => Level::Warning,
        FailOn::Error => Level::Error,
    };
    if worst.is_some_and(|w| w >= threshold) {
        Exit::Found
    } else {
        Exit::Clean
    }
}

/// A finding with its place.
struct Located {
    line: Line,
    code: &'static str,
    istio_code: Option<&'static str>,
}

impl Located {
    fn of(f: &Finding, loaded: &Loaded) -> Located {
        let level = match f.severity {
            FindingLevel::Error => Level::Error,
            FindingLevel::Warning => Level::Warning,
            _ => Level::Note,
        };
        let code = match f.istio_code {
            Some(ist) => format!("{} {ist}", f.code),
            None => f.code.to_string(),
        };
        // Loader notes carry their source in the path: `FILE: document 2`.
        let (source, path) = match f.path.split_once(": ") {
            Some((src, rest)) if loaded.is_source(src) => (Some(src), rest),
            _ => (None, f.path.as_str()),
        };
        Located {
            line: Line {
                place: locate(f.resource.as_ref(), path, source, loaded),
                level,
                code: Some(code),
                resource: f.resource.clone(),
                path: path.to_string(),
                message: f.message.clone(),
            },
            code: f.code,
            istio_code: f.istio_code,
        }
    }

    fn syntax(mut line: Line) -> Located {
        line.code = Some("syntax".into());
        Located {
            line,
            code: "syntax",
            istio_code: None,
        }
    }
}

fn text(findings: &[Located]) -> String {
    let mut out = String::new();
    for f in findings {
        out.push_str(&f.line.render());
        out.push('\n');
    }
    let count = |l| findings.iter().filter(|f| f.line.level == l).count();
    let summary = format!(
        "{}, {}, {}",
        crate::check::plural(count(Level::Error), "error"),
        crate::check::plural(count(Level::Warning), "warning"),
        crate::check::plural(count(Level::Note), "note"),
    );
    if findings.is_empty() {
        out.push_str(&paint(GOOD, "no findings"));
    } else {
        out.push_str(&summary);
    }
    out.push('\n');
    out
}

fn json_of(findings: &[Located]) -> Value {
    let count = |l| findings.iter().filter(|f| f.line.level == l).count();
    json!({
        "findings": findings.iter().map(|f| {
            let l = &f.line;
            json!({
                "code": f.code,
                "istio_code": f.istio_code,
                "severity": l.level.word(),
                "file": l.place.as_ref().map(|p| &p.file),
                "line": l.place.as_ref().map(|p| p.line).filter(|&n| n > 0),
                "column": l.place.as_ref().map(|p| p.column).filter(|&n| n > 0),
                "resource": l.resource.as_ref().map(|r| json!({
                    "kind": r.kind, "namespace": r.namespace, "name": r.name,
                })),
                "path": l.path,
                "message": l.message,
            })
        }).collect::<Vec<_>>(),
        "summary": {
            "errors": count(Level::Error),
            "warnings": count(Level::Warning),
            "notes": count(Level::Note),
        },
    })
}

/// SARIF 2.1.0 (OASIS): one run, a rule per code, a result per finding with its physical
/// location (file, line, column) and its logical location (resource and field path).
fn sarif(findings: &[Located]) -> Value {
    let mut codes: Vec<(&str, Option<&str>)> =
        findings.iter().map(|f| (f.code, f.istio_code)).collect();
    codes.sort_unstable();
    codes.dedup();
    let rules: Vec<Value> = codes
        .iter()
        .map(|(code, ist)| {
            let mut rule = json!({
                "id": code,
                "name": code,
                "shortDescription": {"text": match ist {
                    Some(i) => format!("{code} (Istio {i})"),
                    None => (*code).to_string(),
                }},
            });
            if let Some(i) = ist {
                rule["properties"] = json!({"istioCode": i});
            }
            rule
        })
        .collect();
    let results: Vec<Value> = findings
        .iter()
        .map(|f| {
            let l = &f.line;
            let mut location = json!({});
            if let Some(p) = &l.place {
                let mut physical = json!({"artifactLocation": {"uri": uri(&p.file)}});
                if p.line > 0 {
                    physical["region"] =
                        json!({"startLine": p.line, "startColumn": p.column.max(1)});
                }
                location["physicalLocation"] = physical;
            }
            if let Some(r) = &l.resource {
                let name = if l.path.is_empty() {
                    r.to_string()
                } else {
                    format!("{r}: {}", l.path)
                };
                location["logicalLocations"] = json!([{
                    "fullyQualifiedName": name,
                    "kind": "resource",
                }]);
            }
            let rule_index = codes.iter().position(|(c, _)| *c == f.code).unwrap_or(0);
            json!({
                "ruleId": f.code,
                "ruleIndex": rule_index,
                "level": l.level.word(),
                "message": {"text": match &l.resource {
                    Some(r) if l.path.is_empty() => format!("{r}: {}", l.message),
                    Some(r) => format!("{r}: {}: {}", l.path, l.message),
                    None => l.message.clone(),
                }},
                "locations": [location],
            })
        })
        .collect();
    json!({
        "$schema": "https://docs.oasis-open.org/sarif/sarif/v2.1.0/errata01/os/schemas/sarif-schema-2.1.0.json",
        "version": "2.1.0",
        "runs": [{
            "tool": {"driver": {
                "name": "meshroute",
                "version": env!("CARGO_PKG_VERSION"),
                "rules": rules,
            }},
            "results": results,
        }],
    })
}

/// A file path as a relative URI reference (SARIF `artifactLocation.uri`): forward slashes,
/// and every byte outside RFC 3986's unreserved characters and `/` percent-encoded.
fn uri(file: &str) -> String {
    let mut out = String::new();
    for b in file.replace('\\', "/").bytes() {
        if b.is_ascii_alphanumeric() || b"-._~/".contains(&b) {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}
