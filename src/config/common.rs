//! Value types shared by the resources: durations, percentages, string matches.

use std::fmt;

use serde::{Deserialize, Deserializer};

/// A duration as written in a resource (`"10s"`, `"0.5s"`, `"1m30s"`, `"500ms"`), kept to the
/// nanosecond so that validation can reject sub-millisecond values as Istio does.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Duration {
    nanos: i128,
}

impl Duration {
    /// A duration of `nanos` nanoseconds.
    pub const fn from_nanos(nanos: i128) -> Duration {
        Duration { nanos }
    }

    /// The length in nanoseconds (negative durations are representable so validation can name them).
    pub const fn as_nanos(self) -> i128 {
        self.nanos
    }

    /// The length as a [`std::time::Duration`] (zero when negative).
    pub fn to_std(self) -> std::time::Duration {
        if self.nanos <= 0 {
            return std::time::Duration::ZERO;
        }
        let n = self.nanos.min(u64::MAX as i128 * 1_000_000_000) as u128;
        std::time::Duration::new((n / 1_000_000_000) as u64, (n % 1_000_000_000) as u32)
    }

    /// Parses Go duration syntax, which includes the protobuf JSON form: a sequence of decimal
    /// numbers with units `h`, `m`, `s`, `ms`, `us`/`µs`, `ns`, optionally signed (`"1.5s"`, `"1h2m"`).
    pub fn parse(text: &str) -> Result<Duration, String> {
        let bad = || {
            format!("{text:?} is not a duration (write it as e.g. \"10s\", \"0.5s\" or \"250ms\")")
        };
        let mut s = text.trim();
        let negative = if let Some(rest) = s.strip_prefix('-') {
            s = rest;
            true
        } else {
            s = s.strip_prefix('+').unwrap_or(s);
            false
        };
        if s == "0" {
            return Ok(Duration { nanos: 0 });
        }
        if s.is_empty() {
            return Err(bad());
        }
        let mut total: i128 = 0;
        while !s.is_empty() {
            let num_len = s
                .find(|c: char| !(c.is_ascii_digit() || c == '.'))
                .ok_or_else(bad)?;
            if num_len == 0 {
                return Err(bad());
            }
            let (num, rest) = s.split_at(num_len);
            let unit_len = rest
                .find(|c: char| c.is_ascii_digit() || c == '.')
                .unwrap_or(rest.len());
            let (unit, rest) = rest.split_at(unit_len);
            let scale: i128 = match unit {
                "ns" => 1,
                "us" | "µs" | "μs" => 1_000,
                "ms" => 1_000_000,
                "s" => 1_000_000_000,
                "m" => 60_000_000_000,
                "h" => 3_600_000_000_000,
                _ => return Err(bad()),
            };
            let (int, frac) = match num.split_once('.') {
                Some((i, f)) => (i, f),
                None => (num, ""),
            };
            if (int.is_empty() && frac.is_empty()) || frac.contains('.') || int.len() > 20 {
                return Err(bad());
            }
            let int_v: i128 = if int.is_empty() {
                0
            } else {
                int.parse().map_err(|_| bad())?
            };
            let mut value = int_v.checked_mul(scale).ok_or_else(bad)?;
            // Fractional digits: add digit * scale / 10^k, truncating below a nanosecond.
            let mut denom: i128 = 1;
            for d in frac.bytes().take(30) {
                denom *= 10;
                value += i128::from(d - b'0') * scale / denom;
            }
            total = total.checked_add(value).ok_or_else(bad)?;
            if total > 10_000 * 365 * 24 * 3_600_000_000_000 {
                return Err(format!("{text:?} is longer than 10000 years"));
            }
            s = rest;
        }
        Ok(Duration {
            nanos: if negative { -total } else { total },
        })
    }
}

impl fmt::Display for Duration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let n = self.nanos;
        if n % 1_000_000_000 == 0 {
            write!(f, "{}s", n / 1_000_000_000)
        } else if n % 1_000_000 == 0 {
            write!(f, "{}ms", n / 1_000_000)
        } else if n % 1_000 == 0 {
            write!(f, "{}us", n / 1_000)
        } else {
            write!(f, "{n}ns")
        }
    }
}

impl<'de> Deserialize<'de> for Duration {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        let s = String::deserialize(d)?;
        Duration::parse(&s).map_err(serde::de::Error::custom)
    }
}

/// A percentage, `{value: 12.5}`.
#[derive(Clone, Copy, Debug, PartialEq, Deserialize, Default)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct Percent {
    /// The percentage, 0..=100.
    #[serde(default)]
    pub value: f64,
}

/// Istio's StringMatch: one of `exact`, `prefix`, `regex`. An empty `{}` is a presence match
/// where Istio allows it. All three are kept so that validation can reject more than one.
#[derive(Clone, Debug, PartialEq, Eq, Default, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct StringMatch {
    /// Exact, case-sensitive.
    pub exact: Option<String>,
    /// Starts-with, case-sensitive.
    pub prefix: Option<String>,
    /// RE2 full match.
    pub regex: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_parse_go_and_proto_forms() {
        let ns = |s: &str| Duration::parse(s).unwrap().as_nanos();
        assert_eq!(ns("10s"), 10_000_000_000);
        assert_eq!(ns("0.5s"), 500_000_000);
        assert_eq!(ns("1m30s"), 90_000_000_000);
        assert_eq!(ns("250ms"), 250_000_000);
        assert_eq!(ns("500us"), 500_000);
        assert_eq!(ns("2.000000005s"), 2_000_000_005);
        assert_eq!(ns("999ns"), 999);
        assert_eq!(ns("-1s"), -1_000_000_000);
        assert_eq!(ns("0"), 0);
        assert!(Duration::parse("10").is_err());
        assert!(Duration::parse("s").is_err());
        assert!(Duration::parse("1.2.3s").is_err());
        assert!(Duration::parse("").is_err());
        assert_eq!(
            Duration::parse("ten").unwrap_err(),
            "\"ten\" is not a duration (write it as e.g. \"10s\", \"0.5s\" or \"250ms\")"
        );
    }
}
