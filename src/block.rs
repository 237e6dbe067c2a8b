//! A compiled match block and its one walk over its conditions: R(x), the rule combiner. A
//! rule matches when one of its blocks matches (OR); a block matches when all of its
//! conditions hold (AND), and [`Block::check`] names the first that does not. Istio's precedence is declaration order: the table
//! lists each host's (rule, block) entries in that order and the first that matches wins.

use std::ops::ControlFlow;

use crate::predicate::StrMatch;
use crate::predicate::header::HeaderMatch;
use crate::predicate::path::{PathMatch, strip_query};
use crate::predicate::query::QueryMatch;
use crate::predicate::source::{SourceMatch, SourceMiss};
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
    pub headers: Box<[HeaderMatch]>,
    /// `queryParams`.
    pub query: Box<[QueryMatch]>,
    /// `sourceLabels`, `sourceNamespace`, `port`.
    pub source: SourceMatch,
    /// Where the block is written in its resource (`spec.http[1].match[0]`,
    /// `spec.rules[0].matches[1]`), for explanations.
    pub(crate) path: Box<str>,
    /// Where each of `headers` is written, relative to `path` (`headers[end-user]`,
    /// `withoutHeaders[x-debug]`, `headers[2]`); empty when unknown.
    pub(crate) header_fields: Box<[Box<str>]>,
}

/// The condition of a [`Block`] that a request fails, as [`Block::check`] reports it: what
/// explain names (`spec.http[0].match[0].headers[end-user]`) and witness search steers by.
/// Indexes count into the block's own lists.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Miss {
    /// `port`, `sourceNamespace` or one of `sourceLabels`.
    Source(SourceMiss),
    /// `method`.
    Method,
    /// `scheme`.
    Scheme,
    /// `authority`.
    Authority,
    /// `uri` (`path` in the Gateway API, the service/method in a GRPCRoute).
    Uri,
    /// The header condition at this index of [`Block::headers`].
    Header(usize),
    /// The query condition at this index of [`Block::query`].
    Query(usize),
}

impl Block {
    /// Whether every condition holds for `req`. Cheap checks run first; the result does not
    /// depend on the order.
    pub fn is_match<R: Request + ?Sized>(&self, req: &R) -> bool {
        self.is_match_at(req, strip_query(req.path()))
    }

    /// [`Block::is_match`] with the request's path already stripped of query and fragment
    /// (computed once per decision, not once per block).
    #[inline]
    pub fn is_match_at<R: Request + ?Sized>(&self, req: &R, path: &str) -> bool {
        self.check(req, path).is_ok()
    }

    /// [`Block::is_match_at`], skipping the path condition when `uri_known` (the route index
    /// has decided it holds for `path`).
    #[inline]
    pub(crate) fn holds<R: Request + ?Sized>(&self, req: &R, path: &str, uri_known: bool) -> bool {
        self.walk(req, path, uri_known, ControlFlow::Break)
            .is_continue()
    }

    /// The first condition that fails for `req` (with `path` stripped of query and fragment),
    /// in the order the conditions are checked: source and port, method, scheme, authority,
    /// path, headers, query. `Ok` when the block matches.
    #[inline]
    pub fn check<R: Request + ?Sized>(&self, req: &R, path: &str) -> Result<(), Miss> {
        match self.each_miss(req, path, ControlFlow::Break) {
            ControlFlow::Continue(()) => Ok(()),
            ControlFlow::Break(miss) => Err(miss),
        }
    }

    /// Offers every condition that fails for `req` to `on_miss`, in [`Block::check`]'s order,
    /// until it breaks. The one walk over a block's conditions: `check` breaks at the first,
    /// witness search keeps going to see which dimension a failure is on.
    #[inline]
    pub fn each_miss<R: Request + ?Sized, B>(
        &self,
        req: &R,
        path: &str,
        on_miss: impl FnMut(Miss) -> ControlFlow<B>,
    ) -> ControlFlow<B> {
        self.walk(req, path, false, on_miss)
    }

    /// [`Block::each_miss`], leaving the path condition out when `uri_known`.
    #[inline]
    fn walk<R: Request + ?Sized, B>(
        &self,
        req: &R,
        path: &str,
        uri_known: bool,
        mut on_miss: impl FnMut(Miss) -> ControlFlow<B>,
    ) -> ControlFlow<B> {
        self.source.each_miss(req, |m| on_miss(Miss::Source(m)))?;
        if let Some(m) = &self.method
            && !m.is_match(req.method().as_bytes())
        {
            on_miss(Miss::Method)?;
        }
        if let Some(m) = &self.scheme
            && !m.is_match(req.scheme().as_bytes())
        {
            on_miss(Miss::Scheme)?;
        }
        if let Some(m) = &self.authority
            && !m.is_match(req.authority().as_bytes())
        {
            on_miss(Miss::Authority)?;
        }
        if !uri_known
            && let Some(u) = &self.uri
            && !u.is_match(path)
        {
            on_miss(Miss::Uri)?;
        }
        for (i, h) in self.headers.iter().enumerate() {
            if !h.is_match_at(req, path) {
                on_miss(Miss::Header(i))?;
            }
        }
        for (i, q) in self.query.iter().enumerate() {
            if !q.is_match(req.path()) {
                on_miss(Miss::Query(i))?;
            }
        }
        ControlFlow::Continue(())
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

#[cfg(test)]
mod tests {
    use std::ops::ControlFlow;

    use super::*;
    use crate::OwnedRequest;

    #[test]
    fn check_names_the_first_failure_and_each_miss_sees_them_all() {
        let block = Block {
            method: Some(StrMatch::Exact("POST".into())),
            uri: Some(PathMatch::Prefix {
                value: "/api".into(),
                ignore_case: false,
            }),
            source: SourceMatch {
                port: Some(8080),
                ..SourceMatch::default()
            },
            ..Block::default()
        };
        let req = OwnedRequest::new("GET", "http://reviews/web");
        assert_eq!(
            block.check(&req, "/web"),
            Err(Miss::Source(SourceMiss::Port))
        );
        let mut seen = Vec::new();
        let flow = block.each_miss(&req, "/web", |m| {
            seen.push(m);
            ControlFlow::<()>::Continue(())
        });
        assert!(flow.is_continue());
        assert_eq!(
            seen,
            [Miss::Source(SourceMiss::Port), Miss::Method, Miss::Uri]
        );
        let ok = OwnedRequest::new("POST", "http://reviews:8080/api/v1").with_port(8080);
        assert_eq!(block.check(&ok, "/api/v1"), Ok(()));
        assert!(block.is_match(&ok));
    }
}
