//! Value checks: durations (Istio `ValidateDuration`, used by the VirtualService and
//! DestinationRule validators) and header values (Envoy's header formatter grammar, Istio
//! `header_value_validator.go`).

use crate::compile::report::Report;
use crate::config::common::Duration;
use std::fmt::Display;

/// A limit of [`crate::limits`] with its name for messages: `limit!(MAX_HOSTS)` is
/// `(limits::MAX_HOSTS, "limits::MAX_HOSTS")`.
macro_rules! limit {
    ($name:ident) => {
        (crate::limits::$name, concat!("limits::", stringify!($name)))
    };
}
pub(crate) use limit;

/// Reports at `path` a list of `len` entries over `limit` (from [`limit!`]): "70 header matches
/// exceed the limit of 64 (limits::MAX_HEADER_MATCHES)". Returns whether the list fits.
pub(crate) fn check_count(
    len: usize,
    (max, name): (usize, &str),
    what: &str,
    path: &dyn Display,
    report: &mut Report,
) -> bool {
    if len > max {
        report.error(
            path,
            format!("{len} {what} exceed the limit of {max} ({name})"),
        );
    }
    len <= max
}

/// Reports at `path` a string of `len` bytes over `limit` (from [`limit!`]); see
/// [`fits_length`]. Returns whether it fits.
pub(crate) fn check_length(
    len: usize,
    limit: (usize, &str),
    what: &str,
    path: &dyn Display,
    report: &mut Report,
) -> bool {
    match fits_length(len, limit, what) {
        Ok(()) => true,
        Err(message) => {
            report.error(path, message);
            false
        }
    }
}

/// A string of `len` bytes within `limit` (from [`limit!`]), or the message: "header name of
/// 300 bytes is longer than the limit of 256 (limits::MAX_HEADER_NAME_LEN)".
pub(crate) fn fits_length(
    len: usize,
    (max, name): (usize, &str),
    what: &str,
) -> Result<(), String> {
    if len > max {
        Err(format!(
            "{what} of {len} bytes is longer than the limit of {max} ({name})"
        ))
    } else {
        Ok(())
    }
}

/// A duration Istio accepts for timeouts, retry and fault delays: at least 1ms, whole milliseconds.
/// Reports at `path` a duration Istio's `ValidateDuration` rejects (under 1ms, or not whole
/// milliseconds).
pub(crate) fn check_duration_at(d: Duration, path: &dyn Display, report: &mut Report) {
    if let Err(message) = check_duration(d) {
        report.error(path, message);
    }
}

pub(crate) fn check_duration(d: Duration) -> Result<(), String> {
    let nanos = d.as_nanos();
    if nanos < 1_000_000 {
        Err(format!("duration {d} must be at least 1ms"))
    } else if nanos % 1_000_000 != 0 {
        Err(format!(
            "duration {d} must be a whole number of milliseconds"
        ))
    } else {
        Ok(())
    }
}

/// How an HTTP token is spelled, for messages.
pub(crate) const TOKEN_RULE: &str = "use letters, digits and !#$%&'*+-.^_`|~";

/// An HTTP token (RFC 9110 `tchar`s): what `http`'s `HeaderName::from_bytes` accepts and what
/// Envoy's HTTP/1 and HTTP/2 codecs send; a CR, LF, NUL, space or ':' is not one.
pub(crate) fn is_http_token(s: &str) -> bool {
    !s.is_empty()
        && s.bytes()
            .all(|c| c.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&c))
}

/// A header name that can be sent: an HTTP token ([`is_http_token`]), or the message.
pub(crate) fn check_header_token(name: &str) -> Result<(), String> {
    if is_http_token(name) {
        Ok(())
    } else {
        Err(format!("header name {name:?} is not valid; {TOKEN_RULE}"))
    }
}

/// Text that can stand in a header value (`what` names it in the message): no control
/// characters except HTAB, and no DEL. These are the bytes `http`'s `HeaderValue::from_bytes`
/// refuses, a superset of Istio's `httpHeaderValueRegexp` (`ValidateHTTPHeaderValue`) and of
/// Envoy's `HTTP_HEADER_VALUE` rule (NUL, CR, LF); a CR LF in a value is header injection.
pub(crate) fn check_header_chars(value: &str, what: &str) -> Result<(), String> {
    match value
        .chars()
        .find(|&c| (c < ' ' && c != '\t') || c == '\u{7f}')
    {
        Some(c) => Err(format!(
            "{what} {value:?} contains control character U+{:04X}; only tab is allowed",
            c as u32
        )),
        None => Ok(()),
    }
}

/// A header value for Envoy: no control characters except HTAB ([`check_header_chars`]), and
/// `%` only as `%%` or a well-formed `%VARIABLE%` / `%VARIABLE(args)%` expression (Envoy's
/// header formatter grammar).
pub(crate) fn check_header_value(value: &str) -> Result<(), String> {
    check_header_chars(value, "header value")?;
    #[derive(Clone, Copy, PartialEq)]
    enum State {
        Literal,
        VariableName,
        ExpectArray,
        ExpectString,
        InString,
        ExpectDelimiterOrEnd,
        ExpectArgsEnd,
        ExpectVariableEnd,
    }
    let malformed = |detail: &str| {
        format!(
            "header value {value:?} has a malformed %VARIABLE(...)% expression: {detail}; write %% for a literal %"
        )
    };
    let bytes = value.as_bytes();
    let mut state = State::Literal;
    let mut pos = 0;
    while pos < bytes.len() {
        let c = bytes[pos];
        let has_next = pos + 1 < bytes.len();
        match state {
            State::Literal => {
                if c == b'%' {
                    if !has_next {
                        return Err(format!(
                            "header value {value:?} ends with a lone %; write %% for a literal %"
                        ));
                    }
                    if bytes[pos + 1] == b'%' {
                        pos += 1;
                    } else {
                        state = State::VariableName;
                    }
                }
            }
            State::VariableName => {
                if c == b'%' {
                    state = State::Literal;
                } else if c == b'(' {
                    state = State::ExpectArray;
                }
            }
            State::ExpectArray => {
                if c == b'[' {
                    state = State::ExpectString;
                } else if c != b' ' {
                    state = State::InString;
                }
            }
            State::ExpectDelimiterOrEnd => {
                if c == b',' {
                    state = State::ExpectString;
                } else if c == b']' {
                    state = State::ExpectArgsEnd;
                } else if c != b' ' {
                    return Err(malformed("expected ',', ']' or a space"));
                }
            }
            State::ExpectString => {
                if c == b'"' {
                    state = State::InString;
                } else if c != b' ' {
                    return Err(malformed("expected '\"'"));
                }
            }
            State::InString => {
                if c == b'\\' {
                    if !has_next {
                        return Err(malformed("unterminated backslash escape"));
                    }
                    pos += 1;
                } else if c == b')' {
                    state = State::ExpectVariableEnd;
                } else if c == b'"' {
                    state = State::ExpectDelimiterOrEnd;
                }
            }
            State::ExpectArgsEnd => {
                if c == b')' {
                    state = State::ExpectVariableEnd;
                } else if c != b' ' {
                    return Err(malformed("expected ')' or a space"));
                }
            }
            State::ExpectVariableEnd => {
                if c == b'%' {
                    state = State::Literal;
                } else if c != b' ' {
                    return Err(malformed("expected '%' or a space"));
                }
            }
        }
        pos += 1;
    }
    if state != State::Literal {
        return Err(format!(
            "header value {value:?} has an unterminated %VARIABLE% expression; write %% for a literal %"
        ));
    }
    Ok(())
}

/// Checks `value` against the names of a protobuf enum and reports it when it is not one of
/// them; returns it when it is.
pub(crate) fn check_enum<'a>(
    report: &mut Report,
    path: &dyn Display,
    value: Option<&'a str>,
    what: &str,
    allowed: &[&str],
) -> Option<&'a str> {
    let value = value?;
    if allowed.contains(&value) {
        Some(value)
    } else {
        report.error(
            path,
            format!(
                "{value:?} is not a known {what}; expected one of {}",
                allowed.join(", ")
            ),
        );
        None
    }
}

/// Whether an optional string field is set to a non-empty value (proto3 semantics).
pub(crate) fn is_set(value: &Option<String>) -> bool {
    value.as_deref().is_some_and(|s| !s.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_value_formatter_grammar() {
        for ok in [
            "",
            "plain",
            "100%%",
            "%HOSTNAME%",
            "a %REQ(x-user)% b",
            "%START_TIME(%s)%",
            "%DYNAMIC_METADATA([\"ns\", \"key\"])%",
            "%PER_REQUEST_STATE(a) %",
            "tab\there",
        ] {
            assert_eq!(check_header_value(ok), Ok(()), "{ok}");
        }
        assert_eq!(
            check_header_value("abcd%oijasodifj"),
            Err(
                "header value \"abcd%oijasodifj\" has an unterminated %VARIABLE% expression; \
                 write %% for a literal %"
                    .to_string()
            )
        );
        assert_eq!(
            check_header_value("%DYNAMIC_METADATA([\"a\" x])%"),
            Err(
                "header value \"%DYNAMIC_METADATA([\\\"a\\\" x])%\" has a malformed \
                 %VARIABLE(...)% expression: expected ',', ']' or a space; write %% for a literal %"
                    .to_string()
            )
        );
        assert!(check_header_value("%REQ(x)y%").is_err());
    }
}
