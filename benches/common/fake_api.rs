//! A fake API server for the cluster bench, behind kube's mock service (a
//! `tower_test::mock::pair` handed to `kube::Client::new`, as tests/cluster.rs does): it serves
//! every kind of `meshroute::cluster::KINDS`, answers a list with every object of the kind at
//! once, keeps watches open and streams `MODIFIED` events to them. Leaner than the test's fake:
//! no event log, no compaction, no 404.

#![allow(dead_code)]

use std::collections::HashMap;
use std::convert::Infallible;
use std::pin::pin;
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use futures::channel::mpsc;
use http::{Request, Response};
use http_body_util::StreamBody;
use hyper::body::Frame;
use meshroute::cluster::KINDS;
use serde_json::{Value, json};

type Sender = mpsc::UnboundedSender<Result<Frame<Bytes>, Infallible>>;
type Body = StreamBody<mpsc::UnboundedReceiver<Result<Frame<Bytes>, Infallible>>>;

#[derive(Default)]
struct Kind {
    kind: String,
    items: Vec<Value>,
    watches: Vec<Sender>,
}

#[derive(Default)]
struct State {
    rv: u64,
    /// By `apiVersion/plural`, as in the URL.
    kinds: HashMap<String, Kind>,
}

/// The fake: its state, shared with the task that answers the client's requests.
#[derive(Clone, Default)]
pub struct FakeApi(Arc<Mutex<State>>);

fn plural_key(api_version: &str, kind: &str) -> String {
    let k = KINDS
        .iter()
        .find(|k| k.api_version() == api_version && k.kind == kind)
        .expect("a watched kind");
    format!("{}/{}", k.api_version(), k.plural)
}

fn body(text: Option<String>) -> (Body, Sender) {
    let (tx, rx) = mpsc::unbounded();
    if let Some(text) = text {
        let _ = tx.unbounded_send(Ok(Frame::data(Bytes::from(text + "\n"))));
    }
    (StreamBody::new(rx), tx)
}

impl FakeApi {
    /// Serves `objects` (each with its `apiVersion` and `kind`) as they are.
    pub fn new(objects: impl IntoIterator<Item = Value>) -> FakeApi {
        let mut state = State {
            rv: 1,
            ..State::default()
        };
        for k in KINDS {
            let kind = Kind {
                kind: k.kind.to_string(),
                ..Kind::default()
            };
            state
                .kinds
                .insert(format!("{}/{}", k.api_version(), k.plural), kind);
        }
        for o in objects {
            let key = plural_key(
                o["apiVersion"].as_str().unwrap(),
                o["kind"].as_str().unwrap(),
            );
            state.kinds.get_mut(&key).unwrap().items.push(o);
        }
        FakeApi(Arc::new(Mutex::new(state)))
    }

    /// Watches open now, over every kind.
    pub fn open_watches(&self) -> usize {
        let s = self.0.lock().unwrap();
        s.kinds.values().map(|k| k.watches.len()).sum()
    }

    /// Streams `object` (with `apiVersion` and `kind`) as `MODIFIED` at a new resourceVersion.
    pub fn modify(&self, mut object: Value) {
        let mut s = self.0.lock().unwrap();
        s.rv += 1;
        object["metadata"]["resourceVersion"] = json!(s.rv.to_string());
        let key = plural_key(
            object["apiVersion"].as_str().unwrap(),
            object["kind"].as_str().unwrap(),
        );
        let line = json!({"type": "MODIFIED", "object": object}).to_string() + "\n";
        for tx in &s.kinds[&key].watches {
            let _ = tx.unbounded_send(Ok(Frame::data(Bytes::from(line.clone()))));
        }
    }

    fn answer(&self, req: &Request<kube::client::Body>) -> Body {
        let mut s = self.0.lock().unwrap();
        let segments: Vec<&str> = req.uri().path().split('/').skip(1).collect();
        let (api_version, rest) = match segments.first() {
            Some(&"api") => (segments[1].to_string(), &segments[2..]),
            _ => (format!("{}/{}", segments[1], segments[2]), &segments[3..]),
        };
        let plural = rest.last().expect("a plural");
        let watch = req.uri().query().unwrap_or("").contains("watch=true");
        let rv = s.rv;
        let kind = s
            .kinds
            .get_mut(&format!("{api_version}/{plural}"))
            .expect("a served kind");
        if watch {
            let (b, tx) = body(None);
            kind.watches.push(tx);
            return b;
        }
        let list = json!({"apiVersion": api_version, "kind": format!("{}List", kind.kind),
            "metadata": {"resourceVersion": rv.to_string()}, "items": kind.items});
        body(Some(list.to_string())).0
    }

    /// A client whose requests this fake answers, on a task of its own.
    pub fn client(&self) -> kube::Client {
        let (service, handle) =
            tower_test::mock::pair::<Request<kube::client::Body>, Response<Body>>();
        let fake = self.clone();
        tokio::spawn(async move {
            let mut handle = pin!(handle);
            while let Some((req, send)) = handle.next_request().await {
                send.send_response(Response::new(fake.answer(&req)));
            }
        });
        kube::Client::new(service, "default")
    }
}
