//! Reloading without disturbing readers: [`Shared`] holds the value in use (a [`Table`], a
//! [`Router`](crate::registry::Router), or anything else) behind an `Arc` that readers load and a
//! writer replaces whole.
//!
//! - Building the next value never touches the current one: a [`Table`] is immutable, and the
//!   new one is compiled on the side.
//! - A failed build leaves the current value serving: [`Shared::try_store`] stores only what
//!   was built, and [`Shared::reload`] compiles a configuration and stores the table only when
//!   every resource compiled.
//! - A reader that loaded a value keeps it, unchanged, for as long as it holds the `Arc`; it
//!   never sees a half-applied update. Loading takes no lock: the `Arc` sits in an
//!   [`arc_swap::ArcSwap`], so readers never wait for a writer or for each other, and a writer
//!   swaps the pointer atomically. A thread's first load registers it with arc-swap (one
//!   small allocation, reused by a later thread once this one ends); every load after that
//!   allocates nothing.
//!
//! ```
//! use meshroute::{CompileOptions, Config, OwnedRequest, Shared, compile};
//!
//! let vs = |subset: &str| format!(r#"
//! apiVersion: networking.istio.io/v1
//! kind: VirtualService
//! metadata: {{name: reviews, namespace: default}}
//! spec:
//!   hosts: [reviews]
//!   http:
//!   - route:
//!     - destination: {{host: reviews, subset: {subset}}}
//! "#);
//! let options = CompileOptions::default();
//! let first = compile(&Config::from_str(&vs("v1"), "v1.yaml")?, &options)?;
//! let tables = Shared::new(first.table);
//! let req = OwnedRequest::new("GET", "http://reviews/").from_namespace("default");
//!
//! // A reader holds the table it loaded.
//! let before = tables.load();
//!
//! // A good configuration replaces the table.
//! tables.reload(&Config::from_str(&vs("v2"), "v2.yaml")?, &options)?;
//! let subset = |t: &meshroute::Table| {
//!     t.decide_with_draw(&req, 0).destination().unwrap().subset.clone()
//! };
//! assert_eq!(subset(&tables.load()).as_deref(), Some("v2"));
//! assert_eq!(subset(&before).as_deref(), Some("v1"));
//!
//! // A configuration with an invalid resource is refused; v2 keeps serving.
//! let bad = Config::from_str(&vs("v3").replace("route:", "route: 7"), "bad.yaml");
//! let refused = match bad {
//!     Ok(bad) => tables.reload(&bad, &options).is_err(),
//!     Err(_) => true,
//! };
//! assert!(refused);
//! assert_eq!(subset(&tables.load()).as_deref(), Some("v2"));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::sync::Arc;

use arc_swap::ArcSwap;

use crate::compile::{CompileOptions, Compiled, compile};
use crate::config::Config;
use crate::error::Errors;
use crate::table::Table;

/// A value that readers load and a writer replaces whole. See the [module docs](self).
///
/// `Shared<T>` is `Send + Sync` when `T` is, so one value can be shared by every thread
/// (in an `Arc`, or borrowed by scoped threads).
#[derive(Debug)]
pub struct Shared<T> {
    current: ArcSwap<T>,
}

impl<T> Shared<T> {
    /// Starts with `value`.
    pub fn new(value: T) -> Shared<T> {
        Shared {
            current: ArcSwap::from_pointee(value),
        }
    }

    /// The current value. The caller keeps it, unchanged, for as long as it holds the `Arc`.
    /// Takes no lock, and allocates nothing after the thread's first load.
    pub fn load(&self) -> Arc<T> {
        self.current.load_full()
    }

    /// Replaces the value and returns the one it replaced; readers that loaded the old value
    /// keep it.
    pub fn store(&self, value: T) -> Arc<T> {
        self.current.swap(Arc::new(value))
    }

    /// Builds the next value from the current one and stores it if the build succeeds. On an
    /// error nothing changes and the current value keeps serving. The build runs without any
    /// lock held, so readers are never blocked by it; two concurrent `try_store` calls both
    /// build, and the later store wins.
    pub fn try_store<E>(&self, build: impl FnOnce(&T) -> Result<T, E>) -> Result<Arc<T>, E> {
        let current = self.load();
        let next = build(&current)?;
        Ok(self.store(next))
    }
}

impl Shared<Table> {
    /// Compiles `config` and stores its table, if every resource compiled. When compiling
    /// fails, or any resource is rejected (the errors name each one's fields), nothing
    /// changes: the current table keeps serving, and the errors come back. On success the
    /// [`Compiled`] result comes back for its diagnostics (its `table` is the one now stored).
    ///
    /// To serve a configuration with some resources left out (as Istio's admission webhook
    /// would), call [`compile`] and [`Shared::store`] yourself.
    pub fn reload(&self, config: &Config, options: &CompileOptions) -> Result<Compiled, Errors> {
        let compiled = compile(config, options)?;
        if !compiled.rejected.is_empty() {
            return Err(Errors(compiled.errors().cloned().collect()));
        }
        self.store(compiled.table.clone());
        Ok(compiled)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shared_is_send_and_sync() {
        fn send_sync<T: Send + Sync>() {}
        send_sync::<Shared<Table>>();
        send_sync::<Shared<crate::registry::Router>>();
    }

    #[test]
    fn store_returns_the_replaced_value_and_readers_keep_theirs() {
        let shared = Shared::new(1);
        let held = shared.load();
        assert_eq!(*shared.store(2), 1);
        assert_eq!((*held, *shared.load()), (1, 2));
        let r: Result<_, ()> = shared.try_store(|v| Ok(v + 1));
        assert_eq!(*r.unwrap(), 2);
        assert_eq!(shared.try_store(|_| Err("no")).unwrap_err(), "no");
        assert_eq!(*shared.load(), 3);
    }
}
