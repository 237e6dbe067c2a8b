//! Path normalization before matching: one documented option of the table, applied the same way
//! for every rule, so that a path cannot be read one way by routing and another way by whatever
//! enforces policy behind it (the CVE-2019-9901, CVE-2021-29492 and CVE-2021-32779 class).
//!
//! Normalization writes into a caller-provided stack buffer: no allocation. A path that does
//! not fit ([`MAX_PATH_LEN`]) is refused, like one the policy rejects.

/// Longest path (without query) that is normalized; longer paths are refused with 400.
pub const MAX_PATH_LEN: usize = 8192;

/// What to do with `%2F`, `%2f`, `%5C` and `%5c` in a path (Envoy's
/// `path_with_escaped_slashes_action`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum EscapedSlashes {
    /// Leave them as they are (Envoy's and Istio's default).
    #[default]
    Keep,
    /// Refuse the request (400).
    Reject,
    /// Decode them to `/` and `\` before matching.
    Unescape,
}

/// What to do with a `#fragment` in the request path.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum Fragment {
    /// Drop it before matching (Istio's setting).
    #[default]
    Strip,
    /// Refuse the request (400; Envoy's default since 1.19).
    Reject,
}

/// Istio's mesh-wide `pathNormalization.normalization` levels (istio/api
/// `mesh/v1alpha1/config.proto`, `ProxyPathNormalization`), as istiod turns them into Envoy's
/// HTTP connection manager settings (istio/istio `pilot/pkg/networking/core/listener.go`):
/// `NONE` sets `normalize_path` off; `BASE` (and `DEFAULT`) on; `MERGE_SLASHES` adds
/// `merge_slashes`; `DECODE_AND_MERGE_SLASHES` adds `path_with_escaped_slashes_action:
/// UNESCAPE_AND_FORWARD`. Fragments are stripped at every level (Istio turns Envoy's
/// `http_reject_path_with_fragment` off).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum IstioPathNormalization {
    /// No normalization.
    None,
    /// Envoy's `normalize_path` (the default).
    #[default]
    Base,
    /// `BASE` and merged slashes.
    MergeSlashes,
    /// `MERGE_SLASHES`, with `%2F` / `%5C` decoded first.
    DecodeAndMergeSlashes,
}

impl IstioPathNormalization {
    /// The level of a mesh config name (`NONE`, `BASE`, `DEFAULT`, `MERGE_SLASHES`,
    /// `DECODE_AND_MERGE_SLASHES`); `None` for any other word.
    pub fn from_name(name: &str) -> Option<IstioPathNormalization> {
        Some(match name {
            "NONE" => IstioPathNormalization::None,
            "BASE" | "DEFAULT" => IstioPathNormalization::Base,
            "MERGE_SLASHES" => IstioPathNormalization::MergeSlashes,
            "DECODE_AND_MERGE_SLASHES" => IstioPathNormalization::DecodeAndMergeSlashes,
            _ => return None,
        })
    }
}

/// How request paths are normalized before rules see them. The default is Istio's `BASE`:
/// Envoy's `normalize_path` (its canonical path: `%XX` of an unreserved character decoded,
/// `\` read as `/`, RFC 3986 dot segments removed with `%2e` counting as `.`), slashes not
/// merged, escaped slashes kept, fragments stripped. `%00` is always refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct PathNormalization {
    /// Envoy's `normalize_path`: its canonical path (envoyproxy/envoy
    /// `source/common/http/path_utility.cc`, `PathUtil::canonicalPath`, built on Chromium's URL
    /// path canonicalizer): `%XX` escapes of unreserved characters (`A-Z a-z 0-9 - . _ ~`)
    /// decoded (`/%61dmin` is `/admin`), `\` read as `/`, and `.` / `..` segments removed
    /// (RFC 3986 §5.2.4). Other escapes are kept as sent (`%2F`, `%5c`, `%25`).
    pub dot_segments: bool,
    /// Merge runs of `/` into one.
    pub merge_slashes: bool,
    /// Escaped slashes.
    pub escaped_slashes: EscapedSlashes,
    /// Fragments.
    pub fragment: Fragment,
}

impl Default for PathNormalization {
    fn default() -> PathNormalization {
        PathNormalization {
            dot_segments: true,
            merge_slashes: false,
            escaped_slashes: EscapedSlashes::Keep,
            fragment: Fragment::Strip,
        }
    }
}

impl PathNormalization {
    /// Istio's normalization at `level` (see [`IstioPathNormalization`]).
    ///
    /// # Example
    /// ```
    /// use meshroute::predicate::normalize::{IstioPathNormalization, PathNormalization, MAX_PATH_LEN};
    /// let base = PathNormalization::istio(IstioPathNormalization::Base);
    /// assert_eq!(base, PathNormalization::default());
    /// let mut buf = [0u8; MAX_PATH_LEN];
    /// assert_eq!(base.apply("/%61dmin/..%5Cx//y", &mut buf), Ok("/admin/..%5Cx//y"));
    /// let decode = PathNormalization::istio(IstioPathNormalization::DecodeAndMergeSlashes);
    /// assert_eq!(decode.apply("/%61dmin/..%5Cx//y", &mut buf), Ok("/x/y"));
    /// ```
    pub fn istio(level: IstioPathNormalization) -> PathNormalization {
        let mut n = PathNormalization::default();
        match level {
            IstioPathNormalization::None => n.dot_segments = false,
            IstioPathNormalization::Base => {}
            IstioPathNormalization::MergeSlashes => n.merge_slashes = true,
            IstioPathNormalization::DecodeAndMergeSlashes => {
                n.merge_slashes = true;
                n.escaped_slashes = EscapedSlashes::Unescape;
            }
        }
        n
    }

    /// No normalization at all (paths matched as sent, only `%00` refused).
    pub fn none() -> PathNormalization {
        PathNormalization {
            dot_segments: false,
            merge_slashes: false,
            escaped_slashes: EscapedSlashes::Keep,
            fragment: Fragment::Strip,
        }
    }

    /// Whether `raw` needs no work: its path (before `?`) has no `%`, no `/.`, no `//` when
    /// merging, and no `#` when fragments are refused, and it fits in [`MAX_PATH_LEN`]. Then the
    /// path is used as it is, without touching a buffer. (A longer path is never clean, so it is
    /// refused whether or not it would need work.)
    pub fn is_clean(&self, raw: &str) -> bool {
        self.clean_path(raw).is_some()
    }

    /// The path of `raw` without query and fragment, when `raw` [is clean](Self::is_clean):
    /// one pass over the bytes, and no copy.
    #[inline]
    pub fn clean_path<'a>(&self, raw: &'a str) -> Option<&'a str> {
        /// Bytes checked at once.
        const CHUNK: usize = 16;
        let b = raw.as_bytes();
        let mut i = 0;
        // Sixteen bytes at a time while none of them ends the path or may need work (the
        // compiler makes each step a few vector compares): the byte loop below would pass
        // over them without stopping. The first chunk that has one is left to that loop.
        while let Some(window) = b.get(i..i + CHUNK + 1) {
            let (chunk, next) = (&window[..CHUNK], &window[1..]);
            let mut stop = false;
            for k in 0..CHUNK {
                let (x, y) = (chunk[k], next[k]);
                stop |= (x == b'?')
                    | (x == b'#')
                    | (x == b'%')
                    | (x == b'\\')
                    | ((x == b'/') & ((y == b'.') | (y == b'/')));
            }
            if stop {
                break;
            }
            i += CHUNK;
        }
        self.clean_from(raw, i)
    }

    /// [`Self::clean_path`] for a `raw` whose bytes before `i` neither end the path nor may
    /// need work: the rest, a byte at a time.
    #[inline]
    fn clean_from<'a>(&self, raw: &'a str, mut i: usize) -> Option<&'a str> {
        /// Bytes that end the path or may need work.
        static SPECIAL: [bool; 256] = {
            let mut t = [false; 256];
            t[b'?' as usize] = true;
            t[b'#' as usize] = true;
            t[b'%' as usize] = true;
            t[b'/' as usize] = true;
            t[b'\\' as usize] = true;
            t
        };
        let b = raw.as_bytes();
        while i < b.len() {
            if SPECIAL[b[i] as usize] {
                match b[i] {
                    b'?' => break,
                    b'#' if self.fragment == Fragment::Reject => return None,
                    b'#' => break,
                    b'%' => return None,
                    b'\\' if self.dot_segments => return None,
                    b'\\' => {}
                    _ => match b.get(i + 1) {
                        Some(b'.') if self.dot_segments => return None,
                        Some(b'/') if self.merge_slashes => return None,
                        _ => {}
                    },
                }
            }
            i += 1;
        }
        (i <= MAX_PATH_LEN).then(|| &raw[..i])
    }

    /// The normalized form of `raw` (`:path`, query and fragment included) without its query,
    /// written into `buf`; `Err` with the reason when the request must be refused (400).
    ///
    /// # Errors
    /// `%00`, a rejected escaped slash or fragment, or a path longer than [`MAX_PATH_LEN`].
    pub fn apply<'b>(
        &self,
        raw: &str,
        buf: &'b mut [u8; MAX_PATH_LEN],
    ) -> Result<&'b str, &'static str> {
        let end = raw
            .bytes()
            .position(|b| b == b'?' || b == b'#')
            .unwrap_or(raw.len());
        let fragment_at = raw.bytes().position(|b| b == b'#');
        if self.fragment == Fragment::Reject
            && fragment_at.is_some_and(|f| raw[..f].find('?').is_none())
        {
            return Err("the path has a #fragment");
        }
        let path = &raw.as_bytes()[..end];
        if contains_ci(path, b"%00") {
            return Err("the path has an escaped NUL (%00)");
        }
        let escaped = contains_ci(path, b"%2f") || contains_ci(path, b"%5c");
        if escaped && self.escaped_slashes == EscapedSlashes::Reject {
            return Err("the path has an escaped slash (%2F or %5C)");
        }
        if path.len() > MAX_PATH_LEN {
            return Err("the path is longer than meshroute normalizes (8192 bytes)");
        }
        // Pass 1 into `buf`: escaped slashes (when unescaped), then Envoy's canonical path
        // characters: unreserved escapes decoded, `\` as `/`.
        let canonical = self.dot_segments;
        let unescape = self.escaped_slashes == EscapedSlashes::Unescape;
        let mut n = 0;
        let mut i = 0;
        while i < path.len() {
            let b = path[i];
            let decoded = if b == b'%' && i + 2 < path.len() {
                hex_pair(path[i + 1], path[i + 2]).filter(|&d| {
                    (unescape && (d == b'/' || d == b'\\'))
                        // A hex digit right after `%` or `%X` would spell a new escape, which a
                        // second pass would read differently: keep it escaped.
                        || (canonical && is_unreserved(d) && !(d.is_ascii_hexdigit() && ends_in_open_escape(&buf[..n])))
                })
            } else {
                None
            };
            let (out, step) = match decoded {
                Some(d) => (d, 3),
                None => (b, 1),
            };
            buf[n] = if canonical && out == b'\\' { b'/' } else { out };
            n += 1;
            i += step;
        }
        if !buf[..n].starts_with(b"/") || (!self.dot_segments && !self.merge_slashes) {
            return std::str::from_utf8(&buf[..n]).map_err(|_| "the path is not UTF-8");
        }
        // Pass 2, in place: segments, merging empty ones and resolving dot segments. The
        // output never runs ahead of the input, so writing behind the read position is safe.
        let len = n;
        let mut out = 0;
        let mut read = 0;
        while read < len {
            // buf[read] == b'/' here; the segment is buf[read + 1 .. next '/' or len].
            let start = read + 1;
            let stop = buf[start..len]
                .iter()
                .position(|&b| b == b'/')
                .map_or(len, |p| start + p);
            let last = stop == len;
            let seg_len = stop - start;
            let dot = self.dot_segments && is_dot(&buf[start..stop]);
            let dotdot = self.dot_segments && is_dotdot(&buf[start..stop]);
            if dot {
                if last {
                    buf[out] = b'/';
                    out += 1;
                }
            } else if dotdot {
                // Drop the previous segment (never above the root).
                while out > 0 && buf[out - 1] != b'/' {
                    out -= 1;
                }
                out = out.saturating_sub(1);
                if last {
                    buf[out] = b'/';
                    out += 1;
                }
            } else if seg_len == 0 && self.merge_slashes && !last {
                // `//`: nothing to write.
            } else {
                buf[out] = b'/';
                out += 1;
                buf.copy_within(start..stop, out);
                out += seg_len;
            }
            read = stop;
        }
        if out == 0 {
            buf[0] = b'/';
            out = 1;
        }
        std::str::from_utf8(&buf[..out]).map_err(|_| "the path is not UTF-8")
    }
}

/// The byte `%HH` spells, for two hex digits.
fn hex_pair(h: u8, l: u8) -> Option<u8> {
    let v = |c: u8| (c as char).to_digit(16).map(|d| d as u8);
    Some(v(h)? << 4 | v(l)?)
}

/// RFC 3986 §2.3 unreserved characters.
fn is_unreserved(c: u8) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, b'-' | b'.' | b'_' | b'~')
}

/// Whether `out` ends in `%` or `%` and one hex digit, so that a hex digit written next would
/// complete an escape.
fn ends_in_open_escape(out: &[u8]) -> bool {
    match out {
        [.., b'%'] => true,
        [.., b'%', h] => h.is_ascii_hexdigit(),
        _ => false,
    }
}

fn contains_ci(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len())
        .any(|w| w.eq_ignore_ascii_case(needle))
}

fn is_dot(seg: &[u8]) -> bool {
    seg == b"." || seg.eq_ignore_ascii_case(b"%2e")
}

fn is_dotdot(seg: &[u8]) -> bool {
    matches!(seg.len(), 2 | 4 | 6) && {
        let mut rest = seg;
        let mut dots = 0;
        while !rest.is_empty() {
            if rest[0] == b'.' {
                rest = &rest[1..];
            } else if rest.len() >= 3 && rest[..3].eq_ignore_ascii_case(b"%2e") {
                rest = &rest[3..];
            } else {
                return false;
            }
            dots += 1;
        }
        dots == 2
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    proptest::proptest! {
        /// Skipping sixteen bytes at a time decides as the byte loop alone, under every
        /// setting, and a clean path is what `apply` gives.
        #[test]
        fn clean_path_agrees_with_the_byte_loop(
            // Clean runs longer than a chunk, with a byte that may need work here and there.
            raw in "(/?([a-z0-9]{1,12}/?){1,4}[./?#%\\\\]{0,2}){0,4}",
            dot_segments: bool,
            merge_slashes: bool,
            reject_fragment: bool,
        ) {
            let p = PathNormalization {
                dot_segments,
                merge_slashes,
                fragment: if reject_fragment { Fragment::Reject } else { Fragment::Strip },
                ..PathNormalization::default()
            };
            let fast = p.clean_path(&raw);
            proptest::prop_assert_eq!(fast, p.clean_from(&raw, 0));
            if let Some(clean) = fast {
                proptest::prop_assert_eq!(norm(&p, &raw), Ok(clean.to_string()));
            }
        }
    }

    fn norm(p: &PathNormalization, raw: &str) -> Result<String, &'static str> {
        let mut buf = [0u8; MAX_PATH_LEN];
        p.apply(raw, &mut buf).map(String::from)
    }

    #[test]
    fn dot_segments_are_removed_as_rfc_3986_says() {
        let d = PathNormalization::default();
        assert_eq!(
            norm(&d, "/info/../private").unwrap(),
            "/private",
            "CVE-2019-9901"
        );
        assert_eq!(norm(&d, "/a/./b").unwrap(), "/a/b");
        assert_eq!(norm(&d, "/a/%2e%2e/b").unwrap(), "/b");
        assert_eq!(norm(&d, "/a/%2E./b").unwrap(), "/b");
        assert_eq!(norm(&d, "/../../x").unwrap(), "/x");
        assert_eq!(norm(&d, "/a/b/..").unwrap(), "/a/");
        assert_eq!(norm(&d, "/a/b/.").unwrap(), "/a/b/");
        assert_eq!(norm(&d, "/a/..").unwrap(), "/");
        assert_eq!(norm(&d, "/a..b/c").unwrap(), "/a..b/c");
        assert_eq!(
            norm(&d, "/p?x=/../y").unwrap(),
            "/p",
            "the query is not part of the path"
        );
        assert_eq!(norm(&d, "/").unwrap(), "/");
    }

    #[test]
    fn slashes_escapes_fragments_and_nul() {
        let mut p = PathNormalization::default();
        assert_eq!(norm(&p, "//admin").unwrap(), "//admin");
        p.merge_slashes = true;
        assert_eq!(
            norm(&p, "//admin///x").unwrap(),
            "/admin/x",
            "CVE-2021-29492"
        );
        assert_eq!(norm(&p, "/%2Fadmin").unwrap(), "/%2Fadmin");
        p.escaped_slashes = EscapedSlashes::Reject;
        assert!(norm(&p, "/%2Fadmin").is_err());
        assert!(norm(&p, "/a%5cb").is_err());
        p.escaped_slashes = EscapedSlashes::Unescape;
        assert_eq!(norm(&p, "/%2Fadmin").unwrap(), "/admin");
        assert_eq!(norm(&p, "/a/b%2F..%2Fc").unwrap(), "/a/c");
        assert!(norm(&p, "/p%00").is_err());
        assert_eq!(
            norm(&p, "/user/profile#x").unwrap(),
            "/user/profile",
            "CVE-2021-32779: stripped"
        );
        p.fragment = Fragment::Reject;
        assert!(norm(&p, "/user/profile#x").is_err());
        assert_eq!(
            norm(&p, "/user/profile?q=#x").unwrap(),
            "/user/profile",
            "a # in the query is not a path fragment"
        );
    }

    /// envoyproxy/envoy `test/common/http/path_utility_test.cc`, `NormalizeValidPaths` and
    /// `NormalizeCasePath` (what `PathUtil::canonicalPath` does), plus the unreserved escapes
    /// Chromium's path canonicalizer decodes under it.
    #[test]
    fn envoy_canonical_path() {
        let d = PathNormalization::default();
        for (raw, want) in [
            ("/a/b/../c", "/a/c"),
            ("/a/b/./c", "/a/b/c"),
            ("/a/b/../../../../c", "/c"),
            ("/a/..\\c", "/c"),
            ("/%c0%af", "/%c0%af"),
            ("/%5c%25", "/%5c%25"),
            ("/a/b/%2E%2E/c", "/a/c"),
            ("/a/b/%2E./c", "/a/c"),
            ("/a/b/%2E/c", "/a/b/c"),
            ("/../a/b", "/a/b"),
            ("/./a/b", "/a/b"),
            ("/A/B/C", "/A/B/C"),
            ("/a/b/%2e%2e/c", "/a/c"),
            ("/a/%2F%2f/c", "/a/%2F%2f/c"),
            // Unreserved characters: decoded, whatever the hex case.
            ("/%61dmin", "/admin"),
            ("/%41%7e%2D%5f%30", "/A~-_0"),
            ("/a\\b", "/a/b"),
            // Not unreserved: kept as sent.
            ("/a%20b%3Fc", "/a%20b%3Fc"),
            // A decoded hex digit never completes an escape with what precedes it.
            ("/%25%32%65", "/%252e"),
        ] {
            assert_eq!(norm(&d, raw).unwrap(), want, "{raw}");
        }
        let none = PathNormalization::istio(IstioPathNormalization::None);
        assert_eq!(norm(&none, "/%61dmin/..\\x").unwrap(), "/%61dmin/..\\x");
    }

    /// istio/istio `pilot/pkg/networking/core/listener.go`: the mesh config levels as Envoy
    /// settings; the example paths of istio.io's "Security: normalization" reference.
    #[test]
    fn istio_levels() {
        use IstioPathNormalization as L;
        assert_eq!(L::from_name("DEFAULT"), Some(L::Base));
        assert_eq!(L::from_name("base"), None);
        let at = |l, raw| norm(&PathNormalization::istio(l), raw).unwrap();
        assert_eq!(at(L::None, "/a/../b"), "/a/../b");
        assert_eq!(at(L::Base, "/a/../b"), "/b");
        assert_eq!(at(L::Base, "/a//b"), "/a//b");
        assert_eq!(at(L::MergeSlashes, "/a//b"), "/a/b");
        assert_eq!(at(L::MergeSlashes, "/a%2Fb"), "/a%2Fb");
        assert_eq!(at(L::DecodeAndMergeSlashes, "/a%2F%2fb"), "/a/b");
        assert_eq!(at(L::DecodeAndMergeSlashes, "/a%5Cb"), "/a/b");
    }

    #[test]
    fn normalizing_twice_changes_nothing() {
        let p = PathNormalization {
            merge_slashes: true,
            escaped_slashes: EscapedSlashes::Unescape,
            ..PathNormalization::default()
        };
        for raw in [
            "/a/./b/../c//d",
            "/%2e%2e/x",
            "//a/%2F/b/..",
            "/a/b/c/../../..",
            "/x/./",
            "/..",
            "/%2%36%31",
            "/%%32%65%2e/a\\..",
        ] {
            let once = norm(&p, raw).unwrap();
            assert_eq!(norm(&p, &once).unwrap(), once, "{raw}");
        }
    }
}
