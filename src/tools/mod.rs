//! The tools built on the evaluator, for people and pipelines rather than the request path:
//! each allocates, and each asks the table the questions `decide` answers, through the same
//! code ([`Block::check`](crate::Block::check), the one host lookup), never a copy of it.
//!
//! - [`explain`]: how one decision was reached, step by step (`Table::explain`; for a
//!   connection, `Table::explain_connection`).
//! - [`witness`]: for each match block, a request that reaches it, or a proof that none does.
//! - [`analyze`]: findings about a configuration before it ships (`istioctl analyze`'s job).
//! - [`diff`]: the classes of requests whose decision differs between two tables.
//!
//! They are re-exported at the crate root: `meshroute::explain`, `meshroute::witness`,
//! `meshroute::analyze`, `meshroute::diff`.

pub mod analyze;
pub mod diff;
pub mod explain;
mod explain_connection;
pub mod witness;
