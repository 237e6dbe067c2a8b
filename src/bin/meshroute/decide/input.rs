//! Reading one request line as strictly as the config loader reads a file: fields the contract
//! does not name and repeated keys are errors, numbers are checked against their type, and the
//! `id` is kept as the text that was sent.

use std::collections::BTreeMap;
use std::fmt;
use std::net::IpAddr;

use meshroute::retry::UpstreamResult;
use meshroute::{OwnedConnection, OwnedRequest, Protocol};
use serde::Deserialize as _;
use serde::de::{self, DeserializeSeed, MapAccess, SeqAccess, Visitor};
use serde_json::value::RawValue;

/// A line read: the request, its id as sent, its draw if it names one, and what the upstream
/// did with a try of it, if the line says.
pub struct Line {
    pub id: Box<RawValue>,
    pub request: OwnedRequest,
    /// The connection, when the line's `protocol` is `tls` or `tcp` (`request` then holds
    /// only its source fields).
    pub connection: Option<OwnedConnection>,
    pub random_value: Option<u64>,
    pub upstream: Option<Upstream>,
}

/// `upstream`: the result of try number `attempt` (from 1), `elapsed_ms` after the request
/// started.
pub struct Upstream {
    pub result: UpstreamResult,
    pub attempt: u32,
    pub elapsed_ms: u64,
}

/// A line that cannot be decided: why, and its id when it can be recovered.
pub struct Bad {
    pub id: Option<Box<RawValue>>,
    pub msg: String,
}

const TOP: &[&str] = &["id", "request", "random_value", "upstream"];
const UPSTREAM: &[&str] = &[
    "status",
    "grpc_status",
    "ratelimited",
    "reset",
    "reset_before_request",
    "connect_failure",
    "refused_stream",
    "per_try_timeout",
    "overflow",
    "attempt",
    "elapsed_ms",
];
const REQUEST: &[&str] = &[
    "method",
    "scheme",
    "authority",
    "path",
    "headers",
    "port",
    "source_labels",
    "source_namespace",
    "source_ip",
    "gateway",
    "protocol",
    "sni",
    "host",
    "destination_ip",
];

/// The fields only an HTTP request has.
const HTTP_ONLY: &[&str] = &["method", "scheme", "authority", "path", "headers"];
/// The fields only a connection has.
const CONNECTION_ONLY: &[&str] = &["sni", "host", "destination_ip"];

/// Reads one line (without its newline). `gateway` is where a request that names none
/// arrives (`--gateway`).
pub fn read_line(line: &[u8], gateway: Option<&(String, String)>) -> Result<Line, Bad> {
    let text = std::str::from_utf8(line).map_err(|e| Bad {
        id: recover_id(line),
        msg: format!("not UTF-8: invalid byte at offset {}", e.valid_up_to()),
    })?;
    let mut de = serde_json::Deserializer::from_str(text);
    let read = serde_path_to_error::deserialize(&mut de).map_err(|e| {
        let path = e.path().to_string();
        (path, e.into_inner())
    });
    let read = read.and_then(|r| de.end().map(|()| r).map_err(|e| (".".to_string(), e)));
    let raw: RawLine = read.map_err(|(path, e)| Bad {
        id: recover_id(line),
        msg: describe(&path, &e, true),
    })?;
    let id = match raw.id {
        None => RawValue::NULL.to_owned(),
        Some(id) => {
            let mut de = serde_json::Deserializer::from_str(id.get());
            if let Err(e) = serde_path_to_error::deserialize::<_, Checked>(&mut de) {
                // Where in the id, unless that is a long way down; no column, which would
                // count from the id's start.
                let path = match e.path().to_string() {
                    p if p == "." || p.len() > 80 => "id".to_string(),
                    p if p.starts_with('[') => format!("id{p}"),
                    p => format!("id.{p}"),
                };
                return Err(Bad {
                    id: None,
                    msg: describe(&path, &e.into_inner(), false),
                });
            }
            id
        }
    };
    let Some(mut request) = raw.request else {
        return Err(Bad {
            id: Some(id),
            msg: "request: missing; a line is {\"id\", \"request\", \"random_value\"}".into(),
        });
    };
    request.gateway = raw.gateway.or_else(|| gateway.cloned());
    let connection = raw.connection.map(|mut c| {
        c.gateway.clone_from(&request.gateway);
        c
    });
    if connection.is_some() && raw.upstream.is_some() {
        return Err(Bad {
            id: Some(id),
            msg: "upstream: retries are decided for HTTP requests, not for tls or tcp connections"
                .into(),
        });
    }
    Ok(Line {
        id,
        request,
        connection,
        random_value: raw.random_value,
        upstream: raw.upstream,
    })
}

/// `path: message`, with serde_json's column kept only for syntax errors (a field path says
/// more than a column) when `column`.
fn describe(path: &str, e: &serde_json::Error, column: bool) -> String {
    let full = e.to_string();
    let at = format!(" at line {} column {}", e.line(), e.column());
    let msg = full.strip_suffix(&at).unwrap_or(&full);
    let msg = match e.classify() {
        serde_json::error::Category::Syntax | serde_json::error::Category::Eof if column => {
            format!("{msg} at column {}", e.column())
        }
        _ => msg.to_string(),
    };
    if path.is_empty() || path == "." {
        msg
    } else {
        format!("{path}: {msg}")
    }
}

/// The top-level object as read; `gateway` is the request's own, `None` for `--gateway` (or
/// the mesh).
struct RawLine {
    id: Option<Box<RawValue>>,
    request: Option<OwnedRequest>,
    connection: Option<OwnedConnection>,
    random_value: Option<u64>,
    gateway: Option<(String, String)>,
    upstream: Option<Upstream>,
}

impl<'de> de::Deserialize<'de> for RawLine {
    fn deserialize<D: de::Deserializer<'de>>(d: D) -> Result<RawLine, D::Error> {
        d.deserialize_map(LineVisitor)
    }
}

struct LineVisitor;

impl<'de> Visitor<'de> for LineVisitor {
    type Value = RawLine;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an object {\"id\", \"request\", \"random_value\"}")
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<RawLine, A::Error> {
        let mut line = RawLine {
            id: None,
            request: None,
            connection: None,
            random_value: None,
            gateway: None,
            upstream: None,
        };
        let mut seen = 0u32;
        while let Some(field) = map.next_key_seed(Field {
            names: TOP,
            seen: &mut seen,
        })? {
            match field {
                0 => line.id = Some(map.next_value()?),
                1 => {
                    let r: RawRequest = map.next_value()?;
                    line.gateway = r.gateway;
                    line.request = Some(r.request);
                    line.connection = r.connection;
                }
                2 => {
                    line.random_value = map.next_value_seed(Unsigned {
                        max: u64::MAX,
                        what: "an unsigned 64-bit integer",
                    })?;
                }
                _ => line.upstream = map.next_value::<RawUpstream>()?.0,
            }
        }
        Ok(line)
    }
}

/// A known field name, read once: its index in `names`.
struct Field<'a> {
    names: &'static [&'static str],
    seen: &'a mut u32,
}

impl<'de> DeserializeSeed<'de> for Field<'_> {
    type Value = usize;
    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<usize, D::Error> {
        d.deserialize_str(self)
    }
}

impl Visitor<'_> for Field<'_> {
    type Value = usize;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "one of {}", self.names.join(", "))
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<usize, E> {
        let Some(i) = self.names.iter().position(|n| *n == v) else {
            return Err(E::custom(format_args!(
                "unknown field; expected one of {}",
                self.names.join(", ")
            )));
        };
        if *self.seen & (1 << i) != 0 {
            return Err(E::custom("duplicate key; each field may be given once"));
        }
        *self.seen |= 1 << i;
        Ok(i)
    }
}

struct RawRequest {
    request: OwnedRequest,
    /// For `protocol` `tls` or `tcp`: the connection, its source fields copied from `request`.
    connection: Option<OwnedConnection>,
    gateway: Option<(String, String)>,
}

impl<'de> de::Deserialize<'de> for RawRequest {
    fn deserialize<D: de::Deserializer<'de>>(d: D) -> Result<RawRequest, D::Error> {
        d.deserialize_map(RequestVisitor)
    }
}

struct RequestVisitor;

impl<'de> Visitor<'de> for RequestVisitor {
    type Value = RawRequest;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a request object")
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<RawRequest, A::Error> {
        let mut req = OwnedRequest {
            method: "GET".into(),
            scheme: "http".into(),
            path: "/".into(),
            ..OwnedRequest::default()
        };
        let mut gateway = None;
        let mut protocol = None;
        let (mut sni, mut host, mut destination_ip): (Option<String>, Option<String>, _) =
            (None, None, None);
        let mut seen = 0u32;
        while let Some(field) = map.next_key_seed(Field {
            names: REQUEST,
            seen: &mut seen,
        })? {
            let s = |v: Option<String>, default: &str| v.unwrap_or_else(|| default.into());
            match REQUEST[field] {
                "method" => req.method = s(map.next_value()?, "GET"),
                "scheme" => req.scheme = s(map.next_value()?, "http"),
                "authority" => req.authority = s(map.next_value()?, ""),
                "path" => req.path = s(map.next_value()?, "/"),
                "headers" => req.headers = map.next_value::<Headers>()?.0,
                "port" => {
                    req.port = map
                        .next_value_seed(Unsigned {
                            max: u16::MAX.into(),
                            what: "a port (0 to 65535)",
                        })?
                        .map(|p| p as u16);
                }
                "source_labels" => req.source_labels = map.next_value::<Labels>()?.0,
                "source_namespace" => {
                    // Omitted, null or "": the client namespace `default`.
                    let ns: Option<String> = map.next_value()?;
                    req.source_namespace = ns.filter(|ns| !ns.is_empty());
                }
                "source_ip" => req.source_ip = map.next_value::<Ip>()?.0,
                "gateway" => gateway = map.next_value::<Gateway>()?.0,
                "protocol" => {
                    let p: Option<String> = map.next_value()?;
                    protocol = match p.as_deref() {
                        None | Some("http") => None,
                        Some("tls") => Some(Protocol::Tls),
                        Some("tcp") => Some(Protocol::Tcp),
                        Some(other) => {
                            return Err(de::Error::custom(format_args!(
                                "protocol: {other:?} is not http, tls or tcp"
                            )));
                        }
                    };
                }
                "sni" => sni = map.next_value()?,
                "host" => host = map.next_value()?,
                _ => destination_ip = map.next_value::<Ip>()?.0,
            }
        }
        let given = |name: &str| {
            REQUEST
                .iter()
                .position(|n| *n == name)
                .is_some_and(|i| seen & (1 << i) != 0)
        };
        let connection = match protocol {
            None => {
                if let Some(f) = CONNECTION_ONLY.iter().find(|f| given(f)) {
                    return Err(de::Error::custom(format_args!(
                        "{f}: only a tls or tcp connection has it; add a protocol, tls or tcp"
                    )));
                }
                None
            }
            Some(protocol) => {
                let label = if protocol == Protocol::Tls {
                    "tls"
                } else {
                    "tcp"
                };
                if let Some(f) = HTTP_ONLY.iter().find(|f| given(f)) {
                    return Err(de::Error::custom(format_args!(
                        "{f}: an HTTP request field; a {label} connection has sni, host, destination_ip and port"
                    )));
                }
                if protocol == Protocol::Tcp && sni.is_some() {
                    return Err(de::Error::custom(
                        "sni: a tcp connection has no SNI; use protocol tls",
                    ));
                }
                let Some(port) = req.port else {
                    return Err(de::Error::custom(format_args!(
                        "port: missing; a {label} connection needs its destination port"
                    )));
                };
                let mut c = match protocol {
                    Protocol::Tls => OwnedConnection::tls("", port),
                    _ => OwnedConnection::tcp(port),
                };
                c.sni = sni.filter(|s| !s.is_empty());
                c.host = host.filter(|h| !h.is_empty());
                c.destination_ip = destination_ip;
                c.source_labels.clone_from(&req.source_labels);
                c.source_namespace.clone_from(&req.source_namespace);
                c.source_ip = req.source_ip;
                Some(c)
            }
        };
        Ok(RawRequest {
            request: req,
            connection,
            gateway,
        })
    }
}

/// Keys of one object, each given once.
#[derive(Default)]
struct Keys(Vec<String>);

impl<'de> DeserializeSeed<'de> for &mut Keys {
    type Value = String;
    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<String, D::Error> {
        d.deserialize_str(self)
    }
}

impl Visitor<'_> for &mut Keys {
    type Value = String;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a key")
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<String, E> {
        if self.0.iter().any(|k| k == v) {
            return Err(E::custom("duplicate key; each key may be given once"));
        }
        self.0.push(v.to_string());
        Ok(v.to_string())
    }
}

/// `headers`: `{name: value or [values]}`, or null.
struct Headers(meshroute::Headers);

impl<'de> de::Deserialize<'de> for Headers {
    fn deserialize<D: de::Deserializer<'de>>(d: D) -> Result<Headers, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Headers;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an object {name: value or [values]}")
            }
            fn visit_unit<E>(self) -> Result<Headers, E> {
                Ok(Headers(meshroute::Headers::new()))
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Headers, A::Error> {
                let mut keys = Keys::default();
                let mut out = meshroute::Headers::new();
                while let Some(name) = map.next_key_seed(&mut keys)? {
                    for v in map.next_value::<Values>()?.0 {
                        out.push(&name, &v);
                    }
                }
                Ok(Headers(out))
            }
        }
        d.deserialize_any(V)
    }
}

/// One header's values: a string or a list of strings.
struct Values(Vec<String>);

impl<'de> de::Deserialize<'de> for Values {
    fn deserialize<D: de::Deserializer<'de>>(d: D) -> Result<Values, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Values;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a string or a list of strings")
            }
            fn visit_str<E>(self, v: &str) -> Result<Values, E> {
                Ok(Values(vec![v.to_string()]))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Values, A::Error> {
                let mut out = Vec::new();
                while let Some(v) = seq.next_element::<String>()? {
                    out.push(v);
                }
                Ok(Values(out))
            }
        }
        d.deserialize_any(V)
    }
}

/// `source_labels`: `{name: value}`, or null.
struct Labels(BTreeMap<String, String>);

impl<'de> de::Deserialize<'de> for Labels {
    fn deserialize<D: de::Deserializer<'de>>(d: D) -> Result<Labels, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Labels;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an object {name: value}")
            }
            fn visit_unit<E>(self) -> Result<Labels, E> {
                Ok(Labels(BTreeMap::new()))
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Labels, A::Error> {
                let mut keys = Keys::default();
                let mut out = BTreeMap::new();
                while let Some(name) = map.next_key_seed(&mut keys)? {
                    out.insert(name, map.next_value::<String>()?);
                }
                Ok(Labels(out))
            }
        }
        d.deserialize_any(V)
    }
}

/// `source_ip`: an IP address, or null or "" for none.
struct Ip(Option<IpAddr>);

impl<'de> de::Deserialize<'de> for Ip {
    fn deserialize<D: de::Deserializer<'de>>(d: D) -> Result<Ip, D::Error> {
        match Option::<String>::deserialize(d)? {
            None => Ok(Ip(None)),
            Some(s) if s.is_empty() => Ok(Ip(None)),
            Some(s) => s
                .parse()
                .map(|ip| Ip(Some(ip)))
                .map_err(|_| de::Error::custom(format_args!("{s:?} is not an IP address"))),
        }
    }
}

/// `gateway`: `"NAMESPACE/NAME"`; null, `""` and `"mesh"` mean `--gateway` (or the mesh).
struct Gateway(Option<(String, String)>);

impl<'de> de::Deserialize<'de> for Gateway {
    fn deserialize<D: de::Deserializer<'de>>(d: D) -> Result<Gateway, D::Error> {
        match Option::<String>::deserialize(d)? {
            None => Ok(Gateway(None)),
            Some(g) if g.is_empty() || g == "mesh" => Ok(Gateway(None)),
            Some(g) => match g.split_once('/') {
                Some((ns, name)) => Ok(Gateway(Some((ns.to_string(), name.to_string())))),
                None => Err(de::Error::custom(format_args!(
                    "{g:?} is not NAMESPACE/NAME"
                ))),
            },
        }
    }
}

/// An unsigned integer up to `max`, or null; read from its text, so `1e3`, `1.0`, `-1` and
/// integers past `max` are named as written, not as the float serde_json would make of them.
struct Unsigned {
    max: u64,
    what: &'static str,
}

impl<'de> DeserializeSeed<'de> for Unsigned {
    type Value = Option<u64>;
    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<Option<u64>, D::Error> {
        let Some(raw) = Option::<Box<RawValue>>::deserialize(d)? else {
            return Ok(None);
        };
        let text = raw.get();
        if text.bytes().all(|b| b.is_ascii_digit())
            && let Some(n) = text.parse::<u64>().ok().filter(|n| *n <= self.max)
        {
            return Ok(Some(n));
        }
        let shown = match text.as_bytes()[0] {
            b'{' => "an object".to_string(),
            b'[' => "an array".to_string(),
            _ if text.chars().count() > 40 => {
                format!("{}...", text.chars().take(40).collect::<String>())
            }
            _ => text.to_string(),
        };
        Err(de::Error::custom(format_args!(
            "{shown} is not {}",
            self.what
        )))
    }
}

/// Any JSON value without a repeated key or a string serde_json would refuse (a lone
/// surrogate): what an `id` read as raw text is checked against before it is echoed.
struct Checked;

impl<'de> de::Deserialize<'de> for Checked {
    fn deserialize<D: de::Deserializer<'de>>(d: D) -> Result<Checked, D::Error> {
        d.deserialize_any(Checked)
    }
}

impl<'de> Visitor<'de> for Checked {
    type Value = Checked;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON value")
    }
    fn visit_bool<E>(self, _: bool) -> Result<Checked, E> {
        Ok(Checked)
    }
    fn visit_i64<E>(self, _: i64) -> Result<Checked, E> {
        Ok(Checked)
    }
    fn visit_u64<E>(self, _: u64) -> Result<Checked, E> {
        Ok(Checked)
    }
    fn visit_f64<E>(self, _: f64) -> Result<Checked, E> {
        Ok(Checked)
    }
    fn visit_str<E>(self, _: &str) -> Result<Checked, E> {
        Ok(Checked)
    }
    fn visit_unit<E>(self) -> Result<Checked, E> {
        Ok(Checked)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Checked, A::Error> {
        while seq.next_element::<Checked>()?.is_some() {}
        Ok(Checked)
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Checked, A::Error> {
        let mut keys = Keys::default();
        while map.next_key_seed(&mut keys)?.is_some() {
            map.next_value::<Checked>()?;
        }
        Ok(Checked)
    }
}

/// The `id` of a line that could not be read, best effort: a scan of the top-level object
/// for an `"id"` key with a scalar value (string, number, boolean, null), skipping other
/// values by bracket depth (inside strings, brackets do not count). Works on bytes, so a
/// line that is not UTF-8 still gives its id. A line with two `"id"` keys gives none.
pub fn recover_id(line: &[u8]) -> Option<Box<RawValue>> {
    let ws = |mut i: usize| {
        while line.get(i).is_some_and(|b| b" \t\r\n".contains(b)) {
            i += 1;
        }
        i
    };
    let mut i = ws(0);
    if line.get(i) != Some(&b'{') {
        return None;
    }
    i += 1;
    let mut found: Option<Option<&[u8]>> = None;
    loop {
        i = ws(i);
        if line.get(i) != Some(&b'"') {
            break;
        }
        let Some(key_end) = string_end(line, i) else {
            break;
        };
        let key = &line[i..key_end];
        i = ws(key_end);
        if line.get(i) != Some(&b':') {
            break;
        }
        i = ws(i + 1);
        let Some(value_end) = value_end(line, i) else {
            break;
        };
        if serde_json::from_slice::<String>(key).is_ok_and(|k| k == "id") {
            if found.is_some() {
                return None;
            }
            let v = &line[i..value_end];
            found = Some((!matches!(v[0], b'{' | b'[')).then_some(v));
        }
        i = ws(value_end);
        if line.get(i) != Some(&b',') {
            break;
        }
        i += 1;
    }
    let v = std::str::from_utf8(found??).ok()?;
    serde_json::from_str::<Checked>(v).ok()?;
    RawValue::from_string(v.to_string()).ok()
}

/// The index after the string starting at `line[i] == b'"'`.
fn string_end(line: &[u8], mut i: usize) -> Option<usize> {
    i += 1;
    loop {
        match line.get(i)? {
            b'"' => return Some(i + 1),
            b'\\' => i += 2,
            _ => i += 1,
        }
    }
}

/// The index after the value starting at `line[i]`, nested values skipped by bracket depth.
fn value_end(line: &[u8], mut i: usize) -> Option<usize> {
    match line.get(i)? {
        b'"' => string_end(line, i),
        b'{' | b'[' => {
            let mut depth = 0usize;
            loop {
                match line.get(i)? {
                    b'{' | b'[' => depth += 1,
                    b'}' | b']' => {
                        depth -= 1;
                        if depth == 0 {
                            return Some(i + 1);
                        }
                    }
                    b'"' => {
                        i = string_end(line, i)?;
                        continue;
                    }
                    _ => {}
                }
                i += 1;
            }
        }
        _ => {
            let start = i;
            while line.get(i).is_some_and(|b| !b",}] \t\r\n".contains(b)) {
                i += 1;
            }
            (i > start).then_some(i)
        }
    }
}

/// `upstream`: one result (`status` with optional `grpc_status` and `ratelimited`, or one of
/// the flags `reset`, `reset_before_request`, `connect_failure`, `refused_stream`,
/// `per_try_timeout`, `overflow` set to true), with optional `attempt` (from 1, default 1) and
/// `elapsed_ms` (default 0); null for none.
struct RawUpstream(Option<Upstream>);

impl<'de> de::Deserialize<'de> for RawUpstream {
    fn deserialize<D: de::Deserializer<'de>>(d: D) -> Result<RawUpstream, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = RawUpstream;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an upstream result object")
            }
            fn visit_unit<E>(self) -> Result<RawUpstream, E> {
                Ok(RawUpstream(None))
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<RawUpstream, A::Error> {
                let mut seen = 0u32;
                let (mut status, mut grpc, mut limited) = (None, None, false);
                let mut flags: Vec<&'static str> = Vec::new();
                let (mut attempt, mut elapsed_ms) = (1u32, 0u64);
                let number = |max: u64, what: &'static str| Unsigned { max, what };
                while let Some(field) = map.next_key_seed(Field {
                    names: UPSTREAM,
                    seen: &mut seen,
                })? {
                    match UPSTREAM[field] {
                        "status" => {
                            status =
                                map.next_value_seed(number(599, "an HTTP status (100 to 599)"))?;
                            if status.is_some_and(|s| s < 100) {
                                return Err(de::Error::custom(format_args!(
                                    "status {} is not an HTTP status (100 to 599)",
                                    status.unwrap_or(0)
                                )));
                            }
                        }
                        "grpc_status" => {
                            grpc =
                                map.next_value_seed(number(u32::MAX.into(), "a gRPC status code"))?;
                        }
                        "ratelimited" => {
                            limited = map.next_value::<Option<bool>>()?.unwrap_or(false)
                        }
                        "attempt" => {
                            let a = map.next_value_seed(number(
                                u32::MAX.into(),
                                "an attempt number (from 1)",
                            ))?;
                            if a == Some(0) {
                                return Err(de::Error::custom(
                                    "attempt 0: attempts count from 1 (the first try)",
                                ));
                            }
                            attempt = a.unwrap_or(1) as u32;
                        }
                        "elapsed_ms" => {
                            elapsed_ms = map
                                .next_value_seed(number(u64::MAX, "a duration in milliseconds"))?
                                .unwrap_or(0);
                        }
                        flag => {
                            if map.next_value::<Option<bool>>()?.unwrap_or(false) {
                                flags.push(flag);
                            }
                        }
                    }
                }
                let one_of = "give one result: status, reset, reset_before_request, \
                              connect_failure, refused_stream, per_try_timeout or overflow";
                let result = match (status, flags.as_slice()) {
                    (Some(s), []) => UpstreamResult::Response {
                        status: s as u16,
                        grpc_status: grpc.map(|g| g as u32),
                        rate_limited: limited,
                    },
                    (None, [flag]) if grpc.is_none() && !limited => match *flag {
                        "reset" => UpstreamResult::reset(true),
                        "reset_before_request" => UpstreamResult::reset(false),
                        "connect_failure" => UpstreamResult::ConnectFailure,
                        "refused_stream" => UpstreamResult::RefusedStream,
                        "per_try_timeout" => UpstreamResult::PerTryTimeout,
                        _ => UpstreamResult::Overflow,
                    },
                    (None, [_]) => {
                        return Err(de::Error::custom(
                            "grpc_status and ratelimited go with a status",
                        ));
                    }
                    _ => return Err(de::Error::custom(one_of)),
                };
                Ok(RawUpstream(Some(Upstream {
                    result,
                    attempt,
                    elapsed_ms,
                })))
            }
        }
        d.deserialize_any(V)
    }
}
