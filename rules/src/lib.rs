//! The rules a cardhost connector manifest and its requests are held to,
//! shared by the host and the SDK's native checks so the two cannot drift:
//!
//! - [`names`]: ids and versions;
//! - [`template`]: `{field}` and `{secret.name}` templates;
//! - [`path`]: request-path normalisation and permission path patterns;
//! - [`defaults`]: schema defaults filled into an object;
//! - [`text`]: cutting text to a cap and "did you mean" suggestions;
//! - [`time`]: civil dates and RFC 3339 times in UTC.
#![deny(missing_docs)]

pub mod defaults;
pub mod names;
pub mod path;
pub mod template;
pub mod text;
pub mod time;
