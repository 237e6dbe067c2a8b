//! Errors and diagnostics as compilers print them: `FILE:LINE:COL: error: KIND NS/NAME:
//! FIELD.PATH: message`, with the position where the locator knows it; and loading a
//! configuration into a table for the subcommands that need one.

use std::path::PathBuf;

use meshroute::registry::{Registry, RegistryOptions, Router};
use meshroute::{CompileOptions, Compiled, Diagnostic, Error, ResourceId, Severity, Table};

use crate::inputs::{self, Loaded, Place};
use crate::style::{self, BOLD, ERROR, NOTE, WARNING, paint};
use crate::{Exit, Paths};

/// How serious a line is, in the words compilers use.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Level {
    Note,
    Warning,
    Error,
}

impl Level {
    pub fn word(self) -> &'static str {
        match self {
            Level::Note => "note",
            Level::Warning => "warning",
            Level::Error => "error",
        }
    }

    fn painted(self) -> String {
        let style = match self {
            Level::Note => NOTE,
            Level::Warning => WARNING,
            Level::Error => ERROR,
        };
        paint(style, format!("{}:", self.word()))
    }
}

impl From<Severity> for Level {
    fn from(s: Severity) -> Level {
        if s >= Severity::Warning {
            Level::Warning
        } else {
            Level::Note
        }
    }
}

/// One line of a report, with everything located.
pub struct Line {
    pub place: Option<Place>,
    pub level: Level,
    pub code: Option<String>,
    pub resource: Option<ResourceId>,
    pub path: String,
    pub message: String,
}

impl Line {
    /// `FILE:LINE:COL: error: KIND NS/NAME: PATH: message` (position parts left out where
    /// unknown).
    pub fn render(&self) -> String {
        let mut s = String::new();
        if let Some(p) = &self.place {
            s.push_str(&p.file);
            if p.line > 0 {
                s.push_str(&format!(":{}:{}", p.line, p.column));
            }
            s = paint(BOLD, s);
            s.push_str(": ");
        }
        s.push_str(&self.level.painted());
        s.push(' ');
        if let Some(r) = &self.resource {
            s.push_str(&format!("{r}: "));
        }
        if !self.path.is_empty() {
            s.push_str(&format!("{}: ", self.path));
        }
        s.push_str(&self.message);
        if let Some(code) = &self.code {
            s.push_str(&format!(" [{code}]"));
        }
        s
    }

    /// An error of loading or compiling.
    pub fn of_error(e: &Error, loaded: &Loaded) -> Line {
        let place = locate(e.resource(), e.path(), e.source_name(), loaded);
        // A syntax error's path is its position; it is in the place already.
        let path = if place.as_ref().is_some_and(|p| p.line > 0) && position(e.path()).is_some() {
            String::new()
        } else {
            e.path().to_string()
        };
        Line {
            place,
            level: Level::Error,
            code: None,
            resource: e.resource().cloned(),
            path,
            message: e.message().to_string(),
        }
    }

    /// A warning or note of loading or compiling.
    pub fn of_diagnostic(d: &Diagnostic, loaded: &Loaded) -> Line {
        // Loader notes carry their source in the path: `FILE: document 2`.
        let (source, path) = match d.path.split_once(": ") {
            Some((src, rest)) if d.resource.is_none() || loaded.is_source(src) => (Some(src), rest),
            _ => (None, d.path.as_str()),
        };
        Line {
            place: locate(d.resource.as_ref(), path, source, loaded),
            level: d.severity.into(),
            code: Some(d.code.to_string()),
            resource: d.resource.clone(),
            path: path.to_string(),
            message: d.message.clone(),
        }
    }
}

/// The key that orders lines as a compiler reports them: by input (in the order given), then
/// line and column; lines without a place first.
pub fn place_key(l: &Line, sources: &[String]) -> Option<(Option<usize>, u64, u64)> {
    l.place.as_ref().map(|p| {
        let file = sources.iter().position(|s| *s == p.file);
        (file, p.line, p.column)
    })
}

/// `line L column C` → (L, C).
fn position(path: &str) -> Option<(u64, u64)> {
    let rest = path.strip_prefix("line ")?;
    let (l, c) = rest.split_once(" column ")?;
    Some((l.parse().ok()?, c.parse().ok()?))
}

/// Where a problem is: the resource's field when the locator knows the resource, else the
/// source named (with the position a syntax error carries).
pub fn locate(
    resource: Option<&ResourceId>,
    path: &str,
    source: Option<&str>,
    loaded: &Loaded,
) -> Option<Place> {
    if let Some(p) = resource.and_then(|r| loaded.locator.place(r, path, source)) {
        return Some(p);
    }
    let file = source
        .map(str::to_string)
        .or_else(|| resource.and_then(|r| loaded.source_of(r)))?;
    let (line, column) = position(path).unwrap_or((0, 0));
    Some(Place { file, line, column })
}

/// Reads, loads and compiles `paths`, printing every error (and, with `warnings`, every warning)
/// to stderr as [`Line`]s. A configuration with errors is [`Exit::Failed`]; a path that cannot
/// be read is [`Exit::Usage`].
pub fn load_table(
    paths: &Paths,
    options: &CompileOptions,
    warnings: bool,
) -> Result<(Loaded, Compiled), Exit> {
    let (_, loaded) = inputs::read_and_load(paths)?;
    let compiled = match meshroute::compile(&loaded.config, options) {
        Ok(c) => c,
        Err(errors) => {
            for e in &errors.0 {
                style::err(&Line::of_error(e, &loaded).render());
            }
            return Err(Exit::Failed);
        }
    };
    let mut failed = false;
    for e in loaded.syntax_errors.iter().chain(compiled.errors()) {
        style::err(&Line::of_error(e, &loaded).render());
        failed = true;
    }
    if warnings {
        for d in &compiled.diagnostics {
            if d.severity >= Severity::Warning {
                style::err(&Line::of_diagnostic(d, &loaded).render());
            }
        }
    }
    if failed {
        return Err(Exit::Failed);
    }
    Ok((loaded, compiled))
}

/// The endpoints: EndpointSlice, Pod and Service resources of the configuration and of the
/// `--endpoints` paths, with the registry's warnings printed to stderr. A path that cannot be
/// read or parsed is [`Exit::Usage`].
pub fn registry(loaded: &Loaded, endpoints: &[PathBuf]) -> Result<Registry, Exit> {
    let mut config = loaded.config.clone();
    if !endpoints.is_empty() {
        let sources = inputs::read(endpoints).map_err(|u| Exit::Usage(u.0))?;
        let more = inputs::load(&sources);
        if let Some(e) = more.syntax_errors.first() {
            return Err(Exit::Usage(format!("--endpoints: {e}")));
        }
        config.resources.extend(more.config.resources);
    }
    let (registry, notes) = Registry::from_config(&config, &RegistryOptions::default());
    for d in notes.iter().filter(|d| d.severity >= Severity::Warning) {
        style::err(&Line::of_diagnostic(d, loaded).render());
    }
    Ok(registry)
}

/// A router over `table` when the registry knows any endpoint.
pub fn router(table: &Table, registry: &Registry) -> Result<Option<Router>, Exit> {
    if registry.hosts().next().is_none() {
        return Ok(None);
    }
    Router::new(table, registry)
        .map(Some)
        .map_err(|e| Exit::Usage(e.to_string()))
}

/// [`load_table`], then the endpoints ([`registry`]) and a router over them ([`router`]): what
/// the subcommands that pick endpoints start with.
pub fn load_routed(
    paths: &Paths,
    options: &CompileOptions,
    endpoints: &[PathBuf],
) -> Result<(Loaded, Table, Option<Router>), Exit> {
    let (loaded, compiled) = load_table(paths, options, true)?;
    let table = compiled.table;
    let router = router(&table, &registry(&loaded, endpoints)?)?;
    Ok((loaded, table, router))
}
