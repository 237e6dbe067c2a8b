//! Field checks every Gateway API resource uses: ports, object references,
//! header names and values, names repeated in a list ([`repeat_of`]), sets. List sizes are
//! [`check_count`](crate::compile::values::check_count).

use crate::compile::names::{check_group, check_kind, check_namespace, check_object_name};
use crate::compile::report::Report;
use crate::compile::values::{TOKEN_RULE, is_http_token};
use crate::limits::MAX_HEADER_NAME_LEN;
use std::fmt::Display;

pub(super) const HEADER_VALUE_RULE: &str =
    "use visible ASCII characters, separated by single spaces or tabs, none at either end";

pub(super) fn check_port(port: i64, path: &dyn Display, report: &mut Report) {
    if !(1..=65535).contains(&port) {
        report.error(path, format!("port {port} is out of range; use 1-65535"));
    }
}

/// A backend object reference: names, port range, and the port a core Service needs.
pub(super) fn check_backend_object(
    group: Option<&str>,
    kind: Option<&str>,
    name: &str,
    namespace: Option<&str>,
    port: Option<i64>,
    path: &dyn Display,
    report: &mut Report,
) {
    check_ref_names(group, kind, name, namespace, path, report);
    match port {
        Some(port) => check_port(port, &format_args!("{path}.port"), report),
        None if group.unwrap_or("").is_empty() && kind.unwrap_or("Service") == "Service" => {
            report.error(
                format!("{path}.port"),
                format!("port is required for a Service backend ({name:?})"),
            );
        }
        None => {}
    }
}

/// `group`, `kind`, `name` (required) and `namespace` of an object reference.
pub(super) fn check_ref_names(
    group: Option<&str>,
    kind: Option<&str>,
    name: &str,
    namespace: Option<&str>,
    path: &dyn Display,
    report: &mut Report,
) {
    if let Some(group) = group {
        check_group(group, &format_args!("{path}.group"), report);
    }
    if let Some(kind) = kind {
        check_kind(kind, &format_args!("{path}.kind"), report);
    }
    check_object_name(name, &format_args!("{path}.name"), report);
    if let Some(ns) = namespace {
        check_namespace(ns, &format_args!("{path}.namespace"), report);
    }
}

/// How a name repeats one listed before it.
pub(super) enum Repeat {
    /// The same name, at this index.
    Same(usize),
    /// The same name but for ASCII case, at this index.
    OtherCase(usize),
}

/// Whether `name` repeats one of `earlier`: the first equal name, else (when `fold_case`, as
/// for header names) the first equal but for ASCII case.
pub(super) fn repeat_of<'a>(
    mut earlier: impl Iterator<Item = &'a str> + Clone,
    name: &str,
    fold_case: bool,
) -> Option<Repeat> {
    if let Some(j) = earlier.clone().position(|o| o == name) {
        return Some(Repeat::Same(j));
    }
    if !fold_case {
        return None;
    }
    earlier
        .position(|o| o.eq_ignore_ascii_case(name))
        .map(Repeat::OtherCase)
}

/// A header name: an HTTP token of 1-256 bytes. Returns whether it is valid.
pub(super) fn check_header_name(
    name: &str,
    what: &str,
    path: &dyn Display,
    report: &mut Report,
) -> bool {
    if name.is_empty() {
        report.error(path, format!("{what} is required"));
        false
    } else if name.len() > MAX_HEADER_NAME_LEN {
        report.error(
            path,
            format!(
                "{what} of {} bytes is longer than the limit of {MAX_HEADER_NAME_LEN} (limits::MAX_HEADER_NAME_LEN)",
                name.len()
            ),
        );
        false
    } else if !is_http_token(name) {
        report.error(path, format!("{what} {name:?} is not valid; {TOKEN_RULE}"));
        false
    } else {
        true
    }
}

/// `^[!-~]+([\t ]?[!-~]+)*$`: visible ASCII, single spaces or tabs between, none at the ends.
pub(super) fn is_header_value(s: &str) -> bool {
    let b = s.as_bytes();
    let visible = |c: u8| (b'!'..=b'~').contains(&c);
    !b.is_empty()
        && visible(b[0])
        && visible(b[b.len() - 1])
        && b.iter().all(|&c| visible(c) || c == b' ' || c == b'\t')
        && !b
            .windows(2)
            .any(|w| matches!(w[0], b' ' | b'\t') && matches!(w[1], b' ' | b'\t'))
}

/// `x-kubernetes-list-type: set`: no entry twice.
pub(super) fn check_set(list: &[String], path: &dyn Display, report: &mut Report) {
    for (i, s) in list.iter().enumerate() {
        if let Some(j) = list[..i].iter().position(|o| o == s) {
            report.error(
                format!("{path}[{i}]"),
                format!("{s:?} is already listed at [{j}]; entries must be unique"),
            );
        }
    }
}

/// `!('*' in self && self.size() > 1)`
pub(super) fn check_wildcard_alone(
    list: &[String],
    field: &str,
    path: &dyn Display,
    report: &mut Report,
) {
    if list.len() > 1 && list.iter().any(|s| s == "*") {
        report.error(
            path,
            format!(
                "\"*\" must be the only entry of {field}, which has {} entries",
                list.len()
            ),
        );
    }
}
