//! `cardhost:connector@0.2.0`: connectors built before triggers keep
//! loading.
//!
//! 0.3 changed nothing 0.2 declares; it only added the `triggers` export. So
//! the 0.2 interfaces are bound to the current version's Rust types (their
//! records and variants are the same, field for field, and the component
//! model checks them by structure when a connector is instantiated), and
//! the current `http` and `log` host functions serve 0.2 connectors under
//! the 0.2 names ([`add_to_linker`]). Nothing is converted.

wasmtime::component::bindgen!({
    path: "../connectors/sdk/wit/v0.2.0",
    world: "cardhost:connector/connector-world",
    imports: { default: trappable },
    exports: { default: async },
    with: {
        "cardhost:connector/types@0.2.0": super::types,
        "cardhost:connector/http@0.2.0": super::http,
        "cardhost:connector/log@0.2.0": super::log,
    },
});

use wasmtime::component::{HasData, Linker};

/// Serves the 0.2 imports with the current host functions, under the 0.2
/// instance names.
pub fn add_to_linker<T, D>(
    linker: &mut Linker<T>,
    host_getter: fn(&mut T) -> D::Data<'_>,
) -> wasmtime::Result<()>
where
    T: Send + 'static,
    D: HasData + super::http::HostWithStore<T> + super::log::HostWithStore<T>,
    for<'a> D::Data<'a>: super::http::Host + super::log::Host + super::types::Host + Send,
{
    // The types interface has no functions; the instance only has to exist.
    linker.instance("cardhost:connector/types@0.2.0")?;
    let mut http = linker.instance("cardhost:connector/http@0.2.0")?;
    super::http::add_to_linker_instance::<T, D>(&mut http, host_getter)?;
    let mut log = linker.instance("cardhost:connector/log@0.2.0")?;
    super::log::add_to_linker_instance::<T, D>(&mut log, host_getter)?;
    Ok(())
}
