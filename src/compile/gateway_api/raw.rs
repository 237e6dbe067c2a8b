//! Access to the fields the model keeps as raw JSON: objects with known keys, typed fields,
//! object references and string sets.

use serde_json::{Map, Value};
use std::fmt::Display;

use super::fields::check_ref_names;
use crate::compile::report::Report;
use crate::compile::values::check_count;

pub(super) fn check_raw_string_set(
    map: &Map<String, Value>,
    field: &str,
    max: (usize, &str),
    path: &dyn Display,
    report: &mut Report,
) {
    let fpath = format_args!("{path}.{field}");
    let Some(value) = raw_field(map, field) else {
        return;
    };
    let Some(items) = value.as_array() else {
        report.error(
            fpath,
            format!(
                "{field} must be a list of strings, not {}",
                json_type(value)
            ),
        );
        return;
    };
    check_count(items.len(), max, field, &fpath, report);
    let mut seen: Vec<&str> = Vec::new();
    for (i, item) in items.iter().enumerate() {
        let Some(s) = item.as_str() else {
            report.error(
                format!("{fpath}[{i}]"),
                format!("entry must be a string, not {}", json_type(item)),
            );
            continue;
        };
        if let Some(j) = seen.iter().position(|o| *o == s) {
            report.error(
                format!("{fpath}[{i}]"),
                format!("{s:?} is already listed at {field}[{j}]; entries must be unique"),
            );
        }
        seen.push(s);
    }
}

/// Whether a raw object reference may name a namespace.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum Namespaced {
    Yes,
    No,
}

/// An object reference kept as raw JSON: `group`, `kind`, `name` (always required) and, when
/// `namespaced`, `namespace`; `group` and `kind` are required when listed in `required` (`group`
/// may be empty).
pub(super) fn check_raw_ref(
    v: &Value,
    namespaced: Namespaced,
    required: &[&str],
    path: &dyn Display,
    report: &mut Report,
) {
    let known: &[&str] = match namespaced {
        Namespaced::Yes => &["group", "kind", "name", "namespace"],
        Namespaced::No => &["group", "kind", "name"],
    };
    let Some(map) = raw_object(v, known, path, report) else {
        return;
    };
    let group = raw_str(map, "group", path, report);
    let kind = raw_str(map, "kind", path, report);
    let name = raw_str(map, "name", path, report);
    let namespace = match namespaced {
        Namespaced::Yes => raw_str(map, "namespace", path, report),
        Namespaced::No => None,
    };
    for (field, value) in [("group", group), ("kind", kind)] {
        if value.is_none() && required.contains(&field) {
            report.error(format!("{path}.{field}"), format!("{field} is required"));
        }
    }
    check_ref_names(
        group,
        kind,
        name.unwrap_or_default(),
        namespace,
        path,
        report,
    );
}

/// `v` as an object whose keys are all in `known`; errors for anything else.
pub(super) fn raw_object<'a>(
    v: &'a Value,
    known: &[&str],
    path: &dyn Display,
    report: &mut Report,
) -> Option<&'a Map<String, Value>> {
    let Value::Object(map) = v else {
        report.error(path, format!("must be an object, not {}", json_type(v)));
        return None;
    };
    for key in map.keys() {
        if !known.contains(&key.as_str()) {
            report.error(
                format!("{path}.{key}"),
                format!(
                    "unknown field {key:?}; expected one of {}",
                    known.join(", ")
                ),
            );
        }
    }
    Some(map)
}

/// A field that is present and not null.
pub(super) fn raw_field<'a>(map: &'a Map<String, Value>, key: &str) -> Option<&'a Value> {
    map.get(key).filter(|v| !v.is_null())
}

pub(super) fn raw_str<'a>(
    map: &'a Map<String, Value>,
    key: &str,
    path: &dyn Display,
    report: &mut Report,
) -> Option<&'a str> {
    let v = raw_field(map, key)?;
    let s = v.as_str();
    if s.is_none() {
        report.error(
            format!("{path}.{key}"),
            format!("{key} must be a string, not {}", json_type(v)),
        );
    }
    s
}

pub(super) fn raw_int(
    map: &Map<String, Value>,
    key: &str,
    path: &dyn Display,
    report: &mut Report,
) -> Option<i64> {
    let v = raw_field(map, key)?;
    let n = v.as_i64();
    if n.is_none() {
        report.error(
            format!("{path}.{key}"),
            format!("{key} must be an integer, not {}", json_type(v)),
        );
    }
    n
}

pub(super) fn json_type(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(n) if n.is_i64() || n.is_u64() => "an integer",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "an object",
    }
}
