//! End-to-end tests of cardhost. The guests they run are built from source by
//! this crate's build script; [`guests`] names their `.wasm` files.

/// Paths of the test guests built for `wasm32-wasip2`.
pub mod guests {
    include!(concat!(env!("OUT_DIR"), "/guests.rs"));
}
