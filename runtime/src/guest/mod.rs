//! The sandbox a card runs in, and the host side of each WIT import.
//!
//! - [`sandbox`]: a fresh store per call, its memory, instance and table
//!   limits, the epoch deadline, and how a call that went wrong is named.
//! - [`http`]: `cardhost:connector/http`, every request through the broker.
//! - [`log`]: `cardhost:connector/log` and the guest's stdout and stderr,
//!   captured under caps.
//!
//! [`GuestState`] is the data of one store; the generated `Host` traits are
//! implemented on it, each in the module named after its interface.

pub mod http;
pub mod log;
pub mod sandbox;

use crate::bindings::{ConnectorWorld, v0_1, v0_2};
use crate::broker::{Broker, RequestScope};
use log::Capture;
use sandbox::GuestLimiter;
use std::sync::{Arc, Mutex};
use wasmtime::Engine;
use wasmtime::component::{HasSelf, Linker, ResourceTable};
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};

pub use log::{GuestOutput, LogLine};
pub use sandbox::CallLimits;

/// The data of one instance's store.
pub struct GuestState {
    pub(crate) wasi: WasiCtx,
    pub(crate) table: ResourceTable,
    pub(crate) memory: GuestLimiter,
    pub(crate) scope: Arc<RequestScope>,
    pub(crate) broker: Arc<Broker>,
    pub(crate) capture: Arc<Mutex<Capture>>,
}

impl WasiView for GuestState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

impl crate::bindings::types::Host for GuestState {}
impl crate::bindings::v0_1::cardhost::connector::types::Host for GuestState {}

/// Builds the linker every connector is instantiated with: WASI (only what
/// std needs is usable: no preopens, env, sockets or DNS) and the cardhost
/// imports of every WIT version the host loads.
pub fn linker(engine: &Engine) -> anyhow::Result<Linker<GuestState>> {
    let mut linker = Linker::new(engine);
    wasmtime_wasi::p2::add_to_linker_async(&mut linker).map_err(|e| anyhow::anyhow!("{e:#}"))?;
    ConnectorWorld::add_to_linker::<GuestState, HasSelf<GuestState>>(&mut linker, |s| s)
        .map_err(|e| anyhow::anyhow!("{e:#}"))?;
    v0_2::add_to_linker::<GuestState, HasSelf<GuestState>>(&mut linker, |s| s)
        .map_err(|e| anyhow::anyhow!("{e:#}"))?;
    v0_1::ConnectorWorld::add_to_linker::<GuestState, HasSelf<GuestState>>(&mut linker, |s| s)
        .map_err(|e| anyhow::anyhow!("{e:#}"))?;
    Ok(linker)
}
