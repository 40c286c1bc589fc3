//! Host-side bindings of the `cardhost:connector` WIT worlds.
//!
//! The host implements the current version ([`WIT_VERSION`]) and every
//! older minor it still loads ([`v0_2`], [`v0_1`]). The rest of the host
//! speaks only the current version's types: an older connector's manifest,
//! context, requests and answers are converted at this boundary, into the
//! current declaration with the same meaning, so nothing past here knows
//! which version a connector was built for. A connector older than 0.3 has
//! no triggers.

wasmtime::component::bindgen!({
    path: "../connectors/sdk/wit/v0.3.0",
    world: "cardhost:connector/connector-world",
    imports: {
        "cardhost:connector/http.send": async | trappable,
        default: trappable,
    },
    exports: { default: async },
    additional_derives: [serde::Serialize],
});

pub mod v0_1;
pub mod v0_2;

use wasmtime::Store;

pub use self::cardhost::connector::types;
pub use self::cardhost::connector::{http, log};
pub use self::exports::cardhost::connector::triggers;

/// The WIT package this host implements; connectors built against another
/// major (or, before 1.0, a minor it does not list) are refused at load.
pub const WIT_PACKAGE: &str = "cardhost:connector";
/// The current version of [`WIT_PACKAGE`]: what the SDK builds.
pub const WIT_VERSION: &str = "0.3.0";
/// Every version of [`WIT_PACKAGE`] this host loads, newest first.
pub const WIT_VERSIONS: &[&str] = &["0.3.0", "0.2.0", "0.1.0"];

/// A WIT version this host loads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
pub enum WitVersion {
    /// `0.1.x`.
    V0_1,
    /// `0.2.x`.
    V0_2,
    /// `0.3.x`, the current one: triggers.
    V0_3,
}

impl WitVersion {
    /// The version a connector declares (`0.2.0`, `0.1.3`), if this host
    /// loads it: same major, and before 1.0 the same minor (semver's rule
    /// for 0.x).
    pub fn of(version: &str) -> Option<Self> {
        let mut parts = version.split(['.', '-', '+']);
        let major: u64 = parts.next()?.parse().ok()?;
        let minor: u64 = parts.next()?.parse().ok()?;
        match (major, minor) {
            (0, 1) => Some(Self::V0_1),
            (0, 2) => Some(Self::V0_2),
            (0, 3) => Some(Self::V0_3),
            _ => None,
        }
    }

    /// The version as the WIT package names it.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::V0_1 => "0.1.0",
            Self::V0_2 => "0.2.0",
            Self::V0_3 => "0.3.0",
        }
    }
}

impl types::AuthScheme {
    /// The OAuth2 endpoint templates the scheme sends to, each named:
    /// token URL, revocation URL (if any), authorize URL (authorization
    /// code only), in that order. None for a scheme without OAuth2.
    pub fn oauth_endpoints(&self) -> Vec<(&'static str, &str)> {
        let (oauth, authorize) = match self {
            Self::Oauth2ClientCredentials(o) => (o, None),
            Self::Oauth2AuthorizationCode(ac) => (&ac.oauth2, Some(ac.authorize_url.as_str())),
            _ => return Vec::new(),
        };
        let mut out = vec![("token URL", oauth.token_url.as_str())];
        out.extend(
            oauth
                .revocation_url
                .as_deref()
                .map(|r| ("revocation URL", r)),
        );
        out.extend(authorize.map(|a| ("authorize URL", a)));
        out
    }
}

/// A connector component ready to instantiate, in the world it was built for.
pub enum WorldPre<T: 'static> {
    /// Built against 0.1.
    V0_1(v0_1::ConnectorWorldPre<T>),
    /// Built against 0.2.
    V0_2(v0_2::ConnectorWorldPre<T>),
    /// Built against 0.3.
    V0_3(ConnectorWorldPre<T>),
}

impl<T: 'static> Clone for WorldPre<T> {
    fn clone(&self) -> Self {
        match self {
            Self::V0_1(pre) => Self::V0_1(pre.clone()),
            Self::V0_2(pre) => Self::V0_2(pre.clone()),
            Self::V0_3(pre) => Self::V0_3(pre.clone()),
        }
    }
}

/// An instantiated connector.
pub enum World {
    /// Built against 0.1.
    V0_1(v0_1::ConnectorWorld),
    /// Built against 0.2.
    V0_2(v0_2::ConnectorWorld),
    /// Built against 0.3.
    V0_3(ConnectorWorld),
}

impl<T: Send + 'static> WorldPre<T> {
    /// Checks that `pre` exports the connector world of `version`.
    pub fn new(
        version: WitVersion,
        pre: wasmtime::component::InstancePre<T>,
    ) -> wasmtime::Result<Self> {
        Ok(match version {
            WitVersion::V0_1 => Self::V0_1(v0_1::ConnectorWorldPre::new(pre)?),
            WitVersion::V0_2 => Self::V0_2(v0_2::ConnectorWorldPre::new(pre)?),
            WitVersion::V0_3 => Self::V0_3(ConnectorWorldPre::new(pre)?),
        })
    }

    /// The WIT version the connector was built against.
    pub fn version(&self) -> WitVersion {
        match self {
            Self::V0_1(_) => WitVersion::V0_1,
            Self::V0_2(_) => WitVersion::V0_2,
            Self::V0_3(_) => WitVersion::V0_3,
        }
    }

    /// Instantiates the component in `store`.
    pub async fn instantiate_async(&self, store: &mut Store<T>) -> wasmtime::Result<World> {
        Ok(match self {
            Self::V0_1(pre) => World::V0_1(pre.instantiate_async(store).await?),
            Self::V0_2(pre) => World::V0_2(pre.instantiate_async(store).await?),
            Self::V0_3(pre) => World::V0_3(pre.instantiate_async(store).await?),
        })
    }
}

impl World {
    // Each call takes the store of whatever data the instance was made in.
    /// The connector's manifest, as the current version declares it.
    pub async fn call_manifest<T: Send>(
        &self,
        store: &mut Store<T>,
    ) -> wasmtime::Result<types::ConnectorManifest> {
        match self {
            Self::V0_1(w) => Ok(w
                .cardhost_connector_connector()
                .call_manifest(store)
                .await?
                .into()),
            Self::V0_2(w) => w.cardhost_connector_connector().call_manifest(store).await,
            Self::V0_3(w) => w.cardhost_connector_connector().call_manifest(store).await,
        }
    }

    /// Runs one card.
    pub async fn call_invoke<T: Send>(
        &self,
        store: &mut Store<T>,
        card: &str,
        input: &str,
        context: &types::Context,
    ) -> wasmtime::Result<Result<String, types::ConnectorError>> {
        match self {
            Self::V0_1(w) => Ok(w
                .cardhost_connector_connector()
                .call_invoke(store, card, input, &context.clone().into())
                .await?
                .map_err(Into::into)),
            Self::V0_2(w) => {
                w.cardhost_connector_connector()
                    .call_invoke(store, card, input, context)
                    .await
            }
            Self::V0_3(w) => {
                w.cardhost_connector_connector()
                    .call_invoke(store, card, input, context)
                    .await
            }
        }
    }

    /// Runs the connection test.
    pub async fn call_test_connection<T: Send>(
        &self,
        store: &mut Store<T>,
        context: &types::Context,
    ) -> wasmtime::Result<types::ConnectionReport> {
        match self {
            Self::V0_1(w) => Ok(w
                .cardhost_connector_connector()
                .call_test_connection(store, &context.clone().into())
                .await?
                .into()),
            Self::V0_2(w) => {
                w.cardhost_connector_connector()
                    .call_test_connection(store, context)
                    .await
            }
            Self::V0_3(w) => {
                w.cardhost_connector_connector()
                    .call_test_connection(store, context)
                    .await
            }
        }
    }
}

impl World {
    /// The triggers the connector declares; none before 0.3.
    pub async fn call_triggers<T: Send>(
        &self,
        store: &mut Store<T>,
    ) -> wasmtime::Result<Vec<triggers::Trigger>> {
        match self {
            Self::V0_1(_) | Self::V0_2(_) => Ok(Vec::new()),
            Self::V0_3(w) => w.cardhost_connector_triggers().call_triggers(store).await,
        }
    }

    /// The 0.3 world, for the trigger calls: a connector older than that
    /// declares no triggers, so the host never asks it to run one.
    fn with_triggers(&self) -> wasmtime::Result<&ConnectorWorld> {
        match self {
            Self::V0_3(w) => Ok(w),
            Self::V0_1(_) | Self::V0_2(_) => Err(wasmtime::Error::msg(
                "the connector was built before WIT 0.3 and has no triggers",
            )),
        }
    }

    /// Reads what changed since `cursor`.
    pub async fn call_poll<T: Send>(
        &self,
        store: &mut Store<T>,
        trigger: &str,
        cursor: Option<&str>,
        context: &types::Context,
    ) -> wasmtime::Result<Result<triggers::PollPage, types::ConnectorError>> {
        self.with_triggers()?
            .cardhost_connector_triggers()
            .call_poll(store, trigger, cursor, context)
            .await
    }

    /// Registers `target_url` with the vendor.
    pub async fn call_subscribe<T: Send>(
        &self,
        store: &mut Store<T>,
        trigger: &str,
        target_url: &str,
        token: &str,
        context: &types::Context,
    ) -> wasmtime::Result<Result<String, types::ConnectorError>> {
        self.with_triggers()?
            .cardhost_connector_triggers()
            .call_subscribe(store, trigger, target_url, token, context)
            .await
    }

    /// Removes a registration `subscribe` made.
    pub async fn call_unsubscribe<T: Send>(
        &self,
        store: &mut Store<T>,
        trigger: &str,
        registration: &str,
        context: &types::Context,
    ) -> wasmtime::Result<Result<(), types::ConnectorError>> {
        self.with_triggers()?
            .cardhost_connector_triggers()
            .call_unsubscribe(store, trigger, registration, context)
            .await
    }

    /// Reads the events of one verified delivery.
    pub async fn call_parse_delivery<T: Send>(
        &self,
        store: &mut Store<T>,
        trigger: &str,
        headers: &[(String, String)],
        body: &[u8],
        context: &types::Context,
    ) -> wasmtime::Result<Result<Vec<triggers::Event>, types::ConnectorError>> {
        self.with_triggers()?
            .cardhost_connector_triggers()
            .call_parse_delivery(store, trigger, headers, body, context)
            .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_follow_semver_for_0x() {
        assert_eq!(WitVersion::of("0.1.0"), Some(WitVersion::V0_1));
        assert_eq!(WitVersion::of("0.1.7"), Some(WitVersion::V0_1));
        assert_eq!(WitVersion::of("0.2.0"), Some(WitVersion::V0_2));
        assert_eq!(WitVersion::of("0.2.1-rc.1"), Some(WitVersion::V0_2));
        assert_eq!(WitVersion::of("0.3.0"), Some(WitVersion::V0_3));
        assert_eq!(WitVersion::of("0.4.0"), None);
        assert_eq!(WitVersion::of("1.0.0"), None);
        assert_eq!(WitVersion::of("garbage"), None);
        for v in WIT_VERSIONS {
            assert_eq!(WitVersion::of(v).map(WitVersion::as_str), Some(*v));
        }
    }
}
