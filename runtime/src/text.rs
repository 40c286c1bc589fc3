//! Text helpers: cutting guest-supplied text to a byte cap before any
//! other work on it.

pub use cardhost_rules::text::{did_you_mean, suggestion, truncate};
