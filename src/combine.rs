//! R(x): the rule combiner. A rule matches when one of its blocks matches (OR); a block matches
//! when all of its conditions hold (AND). Istio's precedence is declaration order: the table
//! lists each host's (rule, block) entries in that order and the first that matches wins.

use crate::predicate::StrMatch;
use crate::predicate::header::HeaderMatch;
use crate::predicate::path::{PathMatch, strip_query};
use crate::predicate::query::QueryMatch;
use crate::predicate::source::SourceMatch;
use crate::request::Request;

/// A compiled match block (`spec.http[].match[]`).
#[derive(Clone, Debug, Default)]
#[non_exhaustive]
pub struct Block {
    /// Block name (`match[].name`).
    pub name: Box<str>,
    /// Envoy route name: `rule name` + `.` + `block name` when the block is named.
    pub route_name: Box<str>,
    /// `uri`.
    pub uri: Option<PathMatch>,
    /// `scheme`.
    pub scheme: Option<StrMatch>,
    /// `method`.
    pub method: Option<StrMatch>,
    /// `authority` (raw, port included, case-sensitive).
    pub authority: Option<StrMatch>,
    /// `headers` and `withoutHeaders`, sorted by name.
    pub headers: Vec<HeaderMatch>,
    /// `queryParams`.
    pub query: Vec<QueryMatch>,
    /// `sourceLabels`, `sourceNamespace`, `port`.
    pub source: SourceMatch,
    /// Where the block is written in its resource (`spec.http[1].match[0]`,
    /// `spec.rules[0].matches[1]`), for explanations.
    pub(crate) path: Box<str>,
    /// Where each of `headers` is written, relative to `path` (`headers[end-user]`,
    /// `withoutHeaders[x-debug]`, `headers[2]`); empty when unknown.
    pub(crate) header_fields: Vec<Box<str>>,
}

impl Block {
    /// Whether every condition holds for `req`. Cheap checks run first; the result does not
    /// depend on the order.
    pub fn is_match<R: Request + ?Sized>(&self, req: &R) -> bool {
        self.is_match_at(req, strip_query(req.path()))
    }

    /// [`Block::is_match`] with the request's path already stripped of query and fragment
    /// (computed once per decision, not once per block).
    pub fn is_match_at<R: Request + ?Sized>(&self, req: &R, path: &str) -> bool {
        if !self.source.is_match(req) {
            return false;
        }
        if let Some(m) = &self.method
            && !m.is_match(req.method().as_bytes())
        {
            return false;
        }
        if let Some(m) = &self.scheme
            && !m.is_match(req.scheme().as_bytes())
        {
            return false;
        }
        if let Some(m) = &self.authority
            && !m.is_match(req.authority().as_bytes())
        {
            return false;
        }
        if let Some(u) = &self.uri
            && !u.is_match(path)
        {
            return false;
        }
        self.headers.iter().all(|h| h.is_match_at(req, path))
            && self.query.iter().all(|q| q.is_match(req.path()))
    }

    /// Istio's catch-all test: a path condition that holds for every path (or none) and no
    /// other condition. `method`, `scheme` and `authority` are header conditions, so a block
    /// with one of them is not a catch-all.
    pub fn is_catch_all(&self) -> bool {
        self.is_catch_all_on_listener() && self.source.is_empty()
    }

    /// The catch-all test as Istio applies it to a listener's routes, after the config-time
    /// conditions (`port`, `sourceLabels`, `sourceNamespace`) have selected the block.
    pub fn is_catch_all_on_listener(&self) -> bool {
        self.uri.as_ref().is_none_or(PathMatch::is_catch_all)
            && self.scheme.is_none()
            && self.method.is_none()
            && self.authority.is_none()
            && self.headers.is_empty()
            && self.query.is_empty()
    }
}
