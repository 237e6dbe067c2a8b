//! Session persistence: reading the session a request carries and saying what to send back so
//! the next request sticks. The model is in [`Session`]'s docs; this module holds the value
//! format and the answer.
//!
//! A session value is what Envoy's cookie session state writes
//! (`source/extensions/http/stateful_session/cookie/cookie.{h,cc}`): the standard base64 (with
//! padding) of the protobuf message `envoy.Cookie { string address = 1; int64 expires = 2; }`,
//! holding the address only. Reading accepts what Envoy accepts: that message (unknown fields
//! skipped; an empty address is no session), else the decoded bytes taken as the address
//! (Envoy's older format, and its header session state's). Reading never allocates and never
//! panics; a value that is not base64, too long, or names nothing is no session.

use crate::action::{Destination, Session, SessionKind};

/// Longest session value read, in bytes of the decoded value; a longer value is no session.
/// An address is at most a host name of 253 bytes and a port.
pub const MAX_SESSION_VALUE: usize = 512;

/// What the request's session said, for a rule with session persistence.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum SessionState {
    /// The request carries no session (no cookie or header, or an empty value): a new
    /// session, placed by the split.
    Absent,
    /// The request carries a value that is not a session meshroute can read, or names no
    /// backend of the rule that can serve: placed by the split, as a new session.
    Unrecognized,
    /// The session's backend got the request.
    Pinned,
}

impl SessionState {
    /// `absent`, `unrecognized` or `pinned`.
    pub fn label(self) -> &'static str {
        match self {
            SessionState::Absent => "absent",
            SessionState::Unrecognized => "unrecognized",
            SessionState::Pinned => "pinned",
        }
    }
}

/// What a proxy does about a rule's session for one response: nothing when the request was
/// pinned, else send the cookie or header that pins the next request to where this one went.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct SessionAnswer<'t> {
    /// The rule's session persistence.
    pub session: &'t Session,
    /// What the request's session said.
    pub state: SessionState,
    /// The backend the request goes to (the session's, or the split's pick).
    pub destination: Option<&'t Destination>,
    /// The address the session names: the backend's ([`Session::backend_address`]).
    pub address: Option<String>,
    /// The session value to send: [`encode_value`] of `address`; `None` when pinned or when
    /// nothing is forwarded.
    pub value: Option<String>,
    /// The `Set-Cookie` header value to add to the response (cookie sessions).
    pub set_cookie: Option<String>,
    /// The response header to set (header sessions): name and value.
    pub set_header: Option<(&'t str, String)>,
}

impl<'t> SessionAnswer<'t> {
    /// The answer for `session` with the request's `state`, sent to `destination` at
    /// `address`, the cookie at `path`. Allocates.
    pub(crate) fn new(
        session: &'t Session,
        state: SessionState,
        destination: Option<&'t Destination>,
        address: Option<String>,
        path: &str,
    ) -> SessionAnswer<'t> {
        let value = match state {
            SessionState::Pinned => None,
            _ => address.as_deref().map(encode_value),
        };
        let (set_cookie, set_header) = match (&value, session.kind) {
            (Some(v), SessionKind::Cookie) => (
                Some(set_cookie(&session.name, v, path, session.max_age, &[])),
                None,
            ),
            (Some(v), SessionKind::Header) => (None, Some((&*session.name, v.clone()))),
            (None, _) => (None, None),
        };
        SessionAnswer {
            session,
            state,
            destination,
            address,
            value,
            set_cookie,
            set_header,
        }
    }
}

/// A `Set-Cookie` value as Envoy's `Http::Utility::makeSetCookieValue` writes it:
/// `name="value"`, then `; Max-Age=N` (whole seconds, left out when zero or absent),
/// `; Path=P` (left out when empty), each attribute as `; name` or `; name=value`, and
/// `; HttpOnly`. Allocates.
///
/// # Example
/// ```
/// use std::time::Duration;
/// use meshroute::session::set_cookie;
/// assert_eq!(
///     set_cookie("sid", "abc", "/cart", Some(Duration::from_secs(3600)), &[("SameSite", "Strict")]),
///     "sid=\"abc\"; Max-Age=3600; Path=/cart; SameSite=Strict; HttpOnly"
/// );
/// ```
pub fn set_cookie(
    name: &str,
    value: &str,
    path: &str,
    max_age: Option<std::time::Duration>,
    attributes: &[(&str, &str)],
) -> String {
    use std::fmt::Write as _;
    let mut out = format!("{name}=\"{value}\"");
    if let Some(age) = max_age.map(|d| d.as_secs()).filter(|&s| s > 0) {
        let _ = write!(out, "; Max-Age={age}");
    }
    if !path.is_empty() {
        let _ = write!(out, "; Path={path}");
    }
    for (n, v) in attributes {
        if v.is_empty() {
            let _ = write!(out, "; {n}");
        } else {
            let _ = write!(out, "; {n}={v}");
        }
    }
    out.push_str("; HttpOnly");
    out
}

const BASE64: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/// The session value for `address`: standard base64 of `envoy.Cookie { address }`, as Envoy's
/// cookie session state writes it (without `expires`). Allocates.
///
/// # Example
/// ```
/// use meshroute::session::{decode_address, encode_value, MAX_SESSION_VALUE};
/// let v = encode_value("10.0.0.1:8080");
/// assert_eq!(v, "Cg0xMC4wLjAuMTo4MDgw");
/// let mut buf = [0u8; MAX_SESSION_VALUE];
/// assert_eq!(decode_address(v.as_bytes(), &mut buf), Some(&b"10.0.0.1:8080"[..]));
/// ```
pub fn encode_value(address: &str) -> String {
    let mut message = Vec::with_capacity(address.len() + 6);
    message.push(0x0A); // field 1, length-delimited
    let mut n = address.len();
    while n >= 0x80 {
        message.push((n as u8 & 0x7F) | 0x80);
        n >>= 7;
    }
    message.push(n as u8);
    message.extend_from_slice(address.as_bytes());
    let mut out = String::with_capacity(message.len().div_ceil(3) * 4);
    for chunk in message.chunks(3) {
        let b = [
            chunk[0],
            chunk.get(1).copied().unwrap_or(0),
            chunk.get(2).copied().unwrap_or(0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(BASE64[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// Decodes standard base64 with padding (as Envoy's `Base64::decode`: the length a multiple of
/// 4, `=` only at the end) into `buf`; `None` when malformed or longer than `buf`.
fn base64_decode<'b>(input: &[u8], buf: &'b mut [u8; MAX_SESSION_VALUE]) -> Option<&'b [u8]> {
    if input.is_empty() || !input.len().is_multiple_of(4) {
        return None;
    }
    let value = |c: u8| -> Option<u32> {
        Some(match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' => 62,
            b'/' => 63,
            _ => return None,
        } as u32)
    };
    let pad = input.iter().rev().take_while(|&&c| c == b'=').count();
    if pad > 2 {
        return None;
    }
    let len = input.len() / 4 * 3 - pad;
    if len > buf.len() {
        return None;
    }
    let mut out = 0;
    for (k, quad) in input.chunks(4).enumerate() {
        let last = k == input.len() / 4 - 1;
        let mut n = 0u32;
        let mut bytes = 3;
        for (i, &c) in quad.iter().enumerate() {
            let v = if c == b'=' && last && i >= 4 - pad {
                bytes = bytes.min(i - 1);
                0
            } else {
                value(c)?
            };
            n = (n << 6) | v;
        }
        for i in 0..bytes {
            buf[out] = (n >> (16 - 8 * i)) as u8;
            out += 1;
        }
    }
    Some(&buf[..out])
}

/// Reads a protobuf varint at `*i`.
fn varint(b: &[u8], i: &mut usize) -> Option<u64> {
    let mut v = 0u64;
    for shift in (0..64).step_by(7) {
        let byte = *b.get(*i)?;
        *i += 1;
        v |= u64::from(byte & 0x7F) << shift;
        if byte & 0x80 == 0 {
            return Some(v);
        }
    }
    None
}

/// The `address` field of an `envoy.Cookie` message; `Err` when `b` is not a message,
/// `Ok(None)` when it is one without an address.
fn cookie_address(b: &[u8]) -> Result<Option<&[u8]>, ()> {
    let mut i = 0;
    let mut address = None;
    while i < b.len() {
        let key = varint(b, &mut i).ok_or(())?;
        let (field, wire) = (key >> 3, key & 7);
        if field == 0 {
            return Err(());
        }
        match wire {
            0 => {
                varint(b, &mut i).ok_or(())?;
            }
            1 => i = i.checked_add(8).filter(|&e| e <= b.len()).ok_or(())?,
            5 => i = i.checked_add(4).filter(|&e| e <= b.len()).ok_or(())?,
            2 => {
                let n = usize::try_from(varint(b, &mut i).ok_or(())?).map_err(|_| ())?;
                let end = i.checked_add(n).filter(|&e| e <= b.len()).ok_or(())?;
                if field == 1 {
                    address = Some(&b[i..end]);
                }
                i = end;
            }
            _ => return Err(()),
        }
    }
    Ok(address)
}

/// The address a session value names, decoded into `buf`: the `address` of an `envoy.Cookie`
/// message, else (the bytes are not such a message) the decoded bytes themselves, Envoy's
/// older format. `None` for an empty, malformed or over-long value, or a message without an
/// address. Allocates nothing.
pub fn decode_address<'b>(value: &[u8], buf: &'b mut [u8; MAX_SESSION_VALUE]) -> Option<&'b [u8]> {
    let decoded = base64_decode(value, buf)?;
    let address = match cookie_address(decoded) {
        Ok(a) => a?,
        Err(()) => decoded,
    };
    (!address.is_empty()).then_some(address)
}

/// The session value `req` carries for `session`: the cookie's value (Envoy's
/// `parseCookieValue`, [`crate::hash::cookie_value`]) or the header's first value.
pub fn session_value<'r, R: crate::Request + ?Sized>(
    session: &'r Session,
    req: &'r R,
) -> Option<&'r [u8]> {
    match session.kind {
        SessionKind::Cookie => crate::hash::cookie_value(req, &session.name),
        SessionKind::Header => req.header_values(&session.name).next(),
    }
    .filter(|v| !v.is_empty())
}

/// Whether `address` is `destination`'s backend address ([`Session::backend_address`]),
/// compared without allocating.
pub(crate) fn names_backend(destination: &Destination, address: &[u8]) -> bool {
    let host = destination.host.as_bytes();
    if !address.starts_with(host) {
        return false;
    }
    let rest = &address[host.len()..];
    match destination.port {
        None => rest.is_empty(),
        Some(p) => {
            rest.strip_prefix(b":")
                .and_then(|d| std::str::from_utf8(d).ok())
                .filter(|d| !d.is_empty() && d.bytes().all(|c| c.is_ascii_digit()))
                .and_then(|d| d.parse::<u16>().ok())
                == Some(p)
        }
    }
}

/// The rule's destination the request's session pins it to, when it names one that can
/// serve; the state otherwise. Allocates nothing.
pub(crate) fn pin<R: crate::Request + ?Sized>(
    session: &Session,
    destinations: &[crate::action::WeightedDestination],
    req: &R,
) -> (SessionState, Option<usize>) {
    let Some(value) = session_value(session, req) else {
        return (SessionState::Absent, None);
    };
    let mut buf = [0u8; MAX_SESSION_VALUE];
    let Some(address) = decode_address(value, &mut buf) else {
        return (SessionState::Unrecognized, None);
    };
    match destinations
        .iter()
        .position(|w| w.destination.unavailable.is_none() && names_backend(&w.destination, address))
    {
        Some(j) => (SessionState::Pinned, Some(j)),
        None => (SessionState::Unrecognized, None),
    }
}

/// The cookie `Path` for a rule matched by `block` (GEP-1619 "Path"): the exact path or
/// prefix, for a regular expression its literal start cut back to the last `/` (at least
/// `/`), `/` for a rule without matches.
pub(crate) fn cookie_path(block: Option<&crate::block::Block>) -> &str {
    use crate::predicate::path::PathMatch;
    match block.and_then(|b| b.uri.as_ref()) {
        Some(PathMatch::Exact { value, .. } | PathMatch::Prefix { value, .. }) => value,
        Some(PathMatch::SegmentPrefix(value)) => value,
        Some(PathMatch::Regex(r)) => {
            let lit = r.literal_prefix();
            let cut = lit.iter().rposition(|&b| b == b'/').unwrap_or(0);
            match std::str::from_utf8(&lit[..cut]) {
                Ok(p) if p.starts_with('/') => p,
                _ => "/",
            }
        }
        None => "/",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decode(v: &str) -> Option<String> {
        let mut buf = [0u8; MAX_SESSION_VALUE];
        decode_address(v.as_bytes(), &mut buf).map(|a| String::from_utf8_lossy(a).into_owned())
    }

    /// Envoy `cookie_test.cc`, `SessionStateTest`: the value is base64 of the `envoy.Cookie`
    /// message; `Cg4xLjIuMy40OjgwODA=`-style values round-trip, and the older base64 of the
    /// bare address is still read.
    #[test]
    fn value_round_trips_and_reads_the_older_format() {
        for a in [
            "10.0.0.1:8080",
            "1.2.3.4:80",
            "api.shop.svc.cluster.local:8080",
            "x",
        ] {
            assert_eq!(decode(&encode_value(a)).as_deref(), Some(a), "{a}");
        }
        let long = "h".repeat(300);
        assert_eq!(decode(&encode_value(&long)), Some(long));
        // Older format: base64("1.2.3.4:80"); it does not parse as a message (field 6 with
        // wire type 1 runs out), so the bytes are the address.
        assert_eq!(decode("MS4yLjMuNDo4MA==").as_deref(), Some("1.2.3.4:80"));
    }

    /// Garbled values never panic and are no session.
    #[test]
    fn garbled_values_are_no_session() {
        for v in [
            "",
            "!!!!",
            "abc",
            "====",
            "A===",
            "Cg==",
            "Cg0xMC4w",
            "//////",
            "\u{e9}\u{e9}",
        ] {
            let _ = decode(v);
        }
        assert_eq!(decode(""), None);
        assert_eq!(decode("abc"), None, "length not a multiple of 4");
        assert_eq!(decode("a=bc"), None, "padding inside");
        assert_eq!(decode("CgA="), None, "a message with an empty address");
        let huge = "QUFB".repeat(MAX_SESSION_VALUE);
        assert_eq!(decode(&huge), None, "longer than the buffer");
    }

    /// Envoy `utility_test.cc` `MakeSetCookieValue` shapes.
    #[test]
    fn set_cookie_shapes() {
        use std::time::Duration;
        assert_eq!(set_cookie("n", "v", "", None, &[]), "n=\"v\"; HttpOnly");
        assert_eq!(
            set_cookie(
                "n",
                "v",
                "/",
                Some(Duration::from_secs(0)),
                &[("Secure", "")]
            ),
            "n=\"v\"; Path=/; Secure; HttpOnly"
        );
    }
}
