//! Vendor webhooks: the host's hook URL for a subscription, its
//! registration with the vendor, and the deliveries the vendor makes to it.
//!
//! A subscription to a trigger the vendor delivers by webhook gets a hook
//! URL under the server's public URL, `{public_url}/v1/hooks/{subscription}`,
//! and a token of its own (sealed in the store, shown once when the
//! subscription is made). When the trigger registers itself, the host asks
//! the connector to register the URL and token with the vendor; when it
//! does not, or the vendor refuses (the connection lacks the right, say),
//! the user pastes the URL and token into the vendor's settings.
//!
//! Every delivery is checked before the connector sees a byte of it, as
//! the trigger declares: the token in a header (compared in constant time),
//! or an HMAC-SHA256 signature under the token, with the vendor's
//! timestamp within its tolerance. A delivery that fails the check is
//! answered 401, logged and dropped. One that passes is read by the
//! connector's `parse-delivery`, its events checked against the trigger's
//! schema and stored under their ids, so a vendor's retry of a delivery
//! already stored adds nothing. A trigger that can also be polled is
//! polled on its interval as well: the poll finds what a failing or
//! disabled webhook missed, under the same ids, so nothing arrives twice.
//!
//! A registration is checked again every [`REGISTRATION_CHECK`] (the
//! connector's `subscribe` is asked again, and must answer the same
//! registration while it stands). A vendor that disabled the webhook
//! (SmartHR does after repeated failed deliveries) shows as `failing` with
//! the connector's words; resuming the subscription registers it afresh.

use super::Subscriptions;
use super::delivery::mac;
use crate::connections::ConnectionError;
use crate::store::{HOOK_SECRET, Mode, NewEvent, StoreError, SubscriptionRecord};
use base64::Engine as _;
use cardhost_runtime::ErrorKind;
use cardhost_runtime::wit_triggers::{DeliveryVerification, SignatureEncoding};
use hmac::Mac;
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use std::time::Duration;
use subtle::ConstantTimeEq;

/// How often a registered webhook is checked with the vendor.
pub const REGISTRATION_CHECK: Duration = Duration::from_secs(15 * 60);
/// Headers never handed to a connector with a delivery, besides the ones
/// that carry its verification.
const WITHHELD_HEADERS: [&str; 3] = ["authorization", "cookie", "proxy-authorization"];

/// Where a subscription's webhook registration stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum HookStatus {
    /// Registered with the vendor by the connector.
    Registered,
    /// For the user to set up in the vendor's settings (the URL and token
    /// were shown when the subscription was made).
    Manual,
    /// The last registration or check failed (the vendor disabled the
    /// webhook, say); `message` says why. Resume to register again.
    Failing,
}

/// What the host keeps of a subscription's webhook registration.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HookRegistration {
    /// Where it stands.
    pub status: HookStatus,
    /// What the connector's `subscribe` returned (the vendor's id for the
    /// webhook), while there is one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub registration: Option<String>,
    /// Why it is in that state, in words for the user.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// When it was last registered or checked (Unix ms).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub checked_at_ms: Option<i64>,
}

impl HookRegistration {
    fn of(sub: &SubscriptionRecord) -> Option<Self> {
        serde_json::from_str(sub.registration.as_deref()?).ok()
    }
}

/// A subscription's hook, as users see it.
#[derive(Debug, Clone, Serialize)]
pub struct HookView {
    /// The URL the vendor posts deliveries to.
    pub url: String,
    /// How deliveries are verified: `token-header` (the header carries the
    /// token) or `hmac-sha256` (the header carries a signature under it).
    pub verification: &'static str,
    /// The header the vendor sends the token or signature in.
    pub header: String,
    /// The token: in the answer that creates the subscription only.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub token: Option<String>,
    /// The registration.
    #[serde(flatten)]
    pub registration: Option<HookRegistration>,
}

/// Why a delivery was not taken.
#[derive(Debug, thiserror::Error)]
pub enum HookError {
    /// No subscription takes deliveries at this URL.
    #[error("no subscription takes deliveries here")]
    NotFound,
    /// The delivery failed its verification; the connector never saw it.
    #[error("the delivery is not verified: {0}")]
    Unverified(String),
    /// The delivery cannot be read now (the connection needs
    /// reauthorization, the store is down); the vendor should retry.
    #[error("{0}")]
    Unavailable(String),
    /// The connector could not read the delivery, or its events broke the
    /// trigger's rules.
    #[error("{0}")]
    Rejected(String),
}

/// A fresh hook token.
pub(super) fn new_token() -> String {
    let bytes: [u8; 32] = rand::random();
    hex::encode(bytes)
}

/// Checks a delivery as `verification` declares, under the subscription's
/// `token`, at `now` (Unix seconds).
pub fn verify_delivery(
    verification: &DeliveryVerification,
    token: &str,
    headers: &[(String, String)],
    body: &[u8],
    now: i64,
) -> Result<(), String> {
    let header = |name: &str| {
        headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    };
    match verification {
        DeliveryVerification::SharedToken(name) => {
            let given = header(name).ok_or_else(|| format!("no `{name}` header"))?;
            if bool::from(given.as_bytes().ct_eq(token.as_bytes())) {
                Ok(())
            } else {
                Err(format!(
                    "the `{name}` header does not carry the subscription's token"
                ))
            }
        }
        DeliveryVerification::HmacSha256(h) => {
            let value = header(&h.signature_header)
                .ok_or_else(|| format!("no `{}` header", h.signature_header))?;
            let signature = value
                .trim()
                .strip_prefix(h.prefix.as_str())
                .ok_or_else(|| {
                    format!(
                        "the `{}` header does not start with `{}`",
                        h.signature_header, h.prefix
                    )
                })?;
            let tag = match h.encoding {
                SignatureEncoding::Hex => hex::decode(signature).ok(),
                SignatureEncoding::Base64 => base64::engine::general_purpose::STANDARD
                    .decode(signature)
                    .ok(),
            }
            .ok_or_else(|| format!("the `{}` header is not a signature", h.signature_header))?;
            let mut m = mac(token);
            if let Some(ts_header) = &h.timestamp_header {
                let text = header(ts_header).ok_or_else(|| format!("no `{ts_header}` header"))?;
                let ts: i64 = text
                    .trim()
                    .parse()
                    .map_err(|_| format!("`{ts_header}` is not a Unix time"))?;
                if (now - ts).unsigned_abs() > u64::from(h.tolerance_seconds) {
                    return Err(format!(
                        "`{ts_header}` is {}s from now, more than the {}s allowed",
                        now - ts,
                        h.tolerance_seconds
                    ));
                }
                m.update(text.trim().as_bytes());
                m.update(b".");
            }
            m.update(body);
            m.verify_slice(&tag)
                .map_err(|_| "the signature does not match the body".to_string())
        }
    }
}

/// The header a verification reads.
fn verification_header(v: &DeliveryVerification) -> (&'static str, String) {
    match v {
        DeliveryVerification::SharedToken(h) => ("token-header", h.clone()),
        DeliveryVerification::HmacSha256(h) => ("hmac-sha256", h.signature_header.clone()),
    }
}

impl Subscriptions {
    /// The hook URL of subscription `id`, when the host has a public URL.
    pub fn hook_url(&self, id: &str) -> Option<String> {
        self.public_url
            .as_ref()
            .map(|base| format!("{base}/v1/hooks/{id}"))
    }

    /// The hook of a webhook-mode subscription, as users see it.
    pub(super) fn hook_view(
        &self,
        sub: &SubscriptionRecord,
        verification: Option<&DeliveryVerification>,
        token: Option<String>,
    ) -> Option<HookView> {
        if sub.mode != Mode::Webhook {
            return None;
        }
        let (kind, header) = verification.map(verification_header)?;
        Some(HookView {
            url: self.hook_url(&sub.id).unwrap_or_default(),
            verification: kind,
            header,
            token,
            registration: HookRegistration::of(sub),
        })
    }

    /// Registers a webhook-mode subscription's hook with the vendor through
    /// its connector (or records that the user sets it up), and stores
    /// where that stands.
    pub(super) async fn register(
        &self,
        sub: &SubscriptionRecord,
        registers: bool,
        token: &str,
    ) -> Result<HookRegistration, ConnectionError> {
        let now = crate::store::now_ms();
        let registration = if !registers {
            HookRegistration {
                status: HookStatus::Manual,
                registration: None,
                message: Some(
                    "this trigger is set up in the vendor's settings: paste the hook URL and \
                     token shown when the subscription was made"
                        .into(),
                ),
                checked_at_ms: Some(now),
            }
        } else {
            self.subscribe_upstream(sub, token, now).await?
        };
        self.store
            .set_registration(&sub.id, Some(&encode(&registration)))
            .await?;
        Ok(registration)
    }

    /// Asks the connector to register (or confirm) the hook; a refusal for
    /// want of rights leaves it to the user, any other failure is `failing`.
    async fn subscribe_upstream(
        &self,
        sub: &SubscriptionRecord,
        token: &str,
        now: i64,
    ) -> Result<HookRegistration, ConnectionError> {
        let url = self.hook_url(&sub.id).ok_or_else(|| {
            ConnectionError::Invalid("the host has no public URL for vendor webhooks".into())
        })?;
        let connection = self.conns.open(&sub.connection_id).await?;
        let started_at_ms = crate::store::now_ms();
        let result = self
            .conns
            .host()
            .subscribe(&connection, &sub.trigger, &url, token)
            .await;
        self.conns
            .record_trigger_call(&connection, &sub.trigger, started_at_ms, &result)
            .await;
        Ok(match result {
            Ok(call) => HookRegistration {
                status: HookStatus::Registered,
                registration: Some(call.value),
                message: None,
                checked_at_ms: Some(now),
            },
            Err(e) if refused_for_rights(&e.kind) => HookRegistration {
                status: HookStatus::Manual,
                registration: None,
                message: Some(format!(
                    "the connection may not register webhooks ({e}); paste the hook URL and \
                     token shown when the subscription was made into the vendor's settings, \
                     or grant the connection the right and resume the subscription"
                )),
                checked_at_ms: Some(now),
            },
            Err(e) => HookRegistration {
                status: HookStatus::Failing,
                registration: HookRegistration::of(sub).and_then(|r| r.registration),
                message: Some(e.to_string()),
                checked_at_ms: Some(now),
            },
        })
    }

    /// Checks a registered hook with the vendor again (the connector's
    /// `subscribe`, which confirms a registration that stands), and stores
    /// the outcome.
    pub async fn check_registration(
        &self,
        sub: &SubscriptionRecord,
    ) -> Result<Option<HookRegistration>, ConnectionError> {
        let Some(current) = HookRegistration::of(sub) else {
            return Ok(None);
        };
        if current.status != HookStatus::Registered {
            return Ok(Some(current));
        }
        let token = self.hook_token(&sub.id).await?;
        let checked = self
            .subscribe_upstream(sub, &token, crate::store::now_ms())
            .await?;
        if checked.status != HookStatus::Registered {
            tracing::warn!(
                subscription = %sub.id,
                "the webhook registration is {:?}: {}",
                checked.status,
                checked.message.as_deref().unwrap_or("")
            );
        }
        self.store
            .set_registration(&sub.id, Some(&encode(&checked)))
            .await?;
        Ok(Some(checked))
    }

    /// Registers a hook afresh (on resume): the old registration removed
    /// first, when there is one.
    pub(super) async fn reregister(&self, sub: &SubscriptionRecord) -> Result<(), ConnectionError> {
        if HookRegistration::of(sub).is_none() {
            return Ok(());
        }
        // A trigger that registers itself is registered afresh (the user
        // may have granted the right since, or the vendor disabled it);
        // one the user sets up has nothing for the host to redo.
        let registers = self
            .webhook_of(sub)
            .await
            .map(|w| w.registers)
            .unwrap_or(false);
        if !registers {
            return Ok(());
        }
        self.unregister(sub).await;
        let token = self.hook_token(&sub.id).await?;
        self.register(sub, true, &token).await?;
        Ok(())
    }

    /// Removes a subscription's registration with the vendor, if the
    /// connector made one; a failure is logged, not fatal.
    pub(super) async fn unregister(&self, sub: &SubscriptionRecord) {
        let Some(registration) = HookRegistration::of(sub).and_then(|r| r.registration) else {
            return;
        };
        let result = match self.conns.open(&sub.connection_id).await {
            Ok(connection) => self
                .conns
                .host()
                .unsubscribe(&connection, &sub.trigger, &registration)
                .await
                .map_err(|e| e.to_string()),
            Err(e) => Err(e.to_string()),
        };
        if let Err(e) = result {
            tracing::warn!(
                subscription = %sub.id,
                "could not remove the webhook registration `{registration}` with the vendor: {e}"
            );
        }
    }

    /// Removes the vendor registrations of a connection's subscriptions,
    /// before the connection (and with it its subscriptions) is deleted.
    pub async fn unregister_connection(&self, connection: &str) -> Result<(), ConnectionError> {
        let id = self.conns.show(connection).await?.record.id;
        for sub in self.store.subscriptions(Some(&id)).await? {
            self.unregister(&sub).await;
        }
        Ok(())
    }

    async fn hook_token(&self, id: &str) -> Result<String, ConnectionError> {
        Ok(self
            .store
            .subscription_secret(id, HOOK_SECRET)
            .await?
            .ok_or_else(|| StoreError::Backend(format!("subscription {id} has no hook token")))?
            .expose()
            .to_string())
    }

    async fn webhook_of(
        &self,
        sub: &SubscriptionRecord,
    ) -> Option<cardhost_runtime::wit_triggers::Webhook> {
        self.spec_of(sub).await?.trigger.webhook.clone()
    }

    /// Takes one delivery to subscription `id`'s hook: verified, read by
    /// the connector, its events stored. Returns how many were new.
    pub async fn receive(
        &self,
        id: &str,
        headers: Vec<(String, String)>,
        body: Vec<u8>,
    ) -> Result<usize, HookError> {
        let unavailable = |e: StoreError| HookError::Unavailable(format!("the store: {e}"));
        let sub = match self.store.subscription(id).await {
            Ok(s) if s.mode == Mode::Webhook => s,
            Ok(_) | Err(StoreError::NoSubscription(_)) => return Err(HookError::NotFound),
            Err(e) => return Err(unavailable(e)),
        };
        let webhook = self.webhook_of(&sub).await.ok_or(HookError::NotFound)?;
        let token = match self.store.subscription_secret(id, HOOK_SECRET).await {
            Ok(Some(t)) => t,
            Ok(None) => return Err(HookError::NotFound),
            Err(e) => return Err(unavailable(e)),
        };
        if let Err(why) = verify_delivery(
            &webhook.verification,
            token.expose(),
            &headers,
            &body,
            crate::store::now_secs(),
        ) {
            tracing::warn!(subscription = %id, "refused an unverified webhook delivery: {why}");
            return Err(HookError::Unverified(why));
        }
        let (_, verified_header) = verification_header(&webhook.verification);
        let timestamp_header = match &webhook.verification {
            DeliveryVerification::HmacSha256(h) => h.timestamp_header.clone(),
            DeliveryVerification::SharedToken(_) => None,
        };
        let headers: Vec<(String, String)> = headers
            .into_iter()
            .map(|(n, v)| (n.to_ascii_lowercase(), v))
            .filter(|(n, _)| {
                !n.eq_ignore_ascii_case(&verified_header)
                    && timestamp_header.as_deref() != Some(n.as_str())
                    && !WITHHELD_HEADERS.contains(&n.as_str())
            })
            .collect();
        let connection = self.conns.open(&sub.connection_id).await.map_err(|e| {
            HookError::Unavailable(format!("the subscription's connection cannot be used: {e}"))
        })?;
        let started_at_ms = crate::store::now_ms();
        let result = self
            .conns
            .host()
            .parse_delivery(&connection, &sub.trigger, headers, body)
            .await;
        self.conns
            .record_trigger_call(&connection, &sub.trigger, started_at_ms, &result)
            .await;
        let events = result.map_err(|e| match e.kind {
            ErrorKind::Card(_)
            | ErrorKind::InvalidOutput { .. }
            | ErrorKind::InvalidInput { .. } => HookError::Rejected(e.to_string()),
            _ => HookError::Unavailable(e.to_string()),
        })?;
        let events: Vec<NewEvent> = events
            .value
            .into_iter()
            .map(|e| NewEvent {
                id: e.id,
                occurred_at: e.occurred_at,
                payload: e.payload,
            })
            .collect();
        let committed = self
            .store
            .append_events(id, &events)
            .await
            .map_err(unavailable)?;
        tracing::debug!(subscription = %id, stored = committed.stored, "took a webhook delivery");
        Ok(committed.stored)
    }

    /// Checks, in turn, every registered hook whose last check is older
    /// than [`REGISTRATION_CHECK`].
    pub(super) async fn check_registrations(self: &Arc<Self>) -> Result<(), StoreError> {
        let due_before = crate::store::now_ms() - REGISTRATION_CHECK.as_millis() as i64;
        for sub in self.store.subscriptions(None).await? {
            let Some(r) = HookRegistration::of(&sub) else {
                continue;
            };
            if r.status != HookStatus::Registered
                || r.checked_at_ms.unwrap_or(0) > due_before
                || sub.state != crate::store::SubscriptionState::Active
            {
                continue;
            }
            let work = format!("hook-check:{}", sub.id);
            let checked = self
                .leased(work, async |_| self.check_registration(&sub).await)
                .await?;
            if let Some(Err(e)) = checked {
                tracing::warn!(subscription = %sub.id, "webhook registration check: {e}");
            }
        }
        Ok(())
    }
}

/// Whether a failed `subscribe` means the connection lacks the right
/// (the broker refused it, or the vendor answered 403).
fn refused_for_rights(kind: &ErrorKind) -> bool {
    match kind {
        ErrorKind::Denied { .. } => true,
        ErrorKind::Card(f) => matches!(f, cardhost_runtime::CardFailure::Forbidden { .. }),
        _ => false,
    }
}

fn encode(r: &HookRegistration) -> String {
    serde_json::to_string(r).expect("a registration serializes")
}

#[cfg(test)]
mod tests {
    use super::*;
    use cardhost_runtime::wit_triggers::HmacSignature;

    fn headers(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(n, v)| (n.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn a_token_header_must_carry_the_token_exactly() {
        let v = DeliveryVerification::SharedToken("X-SmartHR-Token".into());
        let ok = headers(&[("x-smarthr-token", "tok")]);
        assert_eq!(verify_delivery(&v, "tok", &ok, b"{}", 0), Ok(()));
        let wrong = headers(&[("X-SmartHR-Token", "tok2")]);
        assert!(verify_delivery(&v, "tok", &wrong, b"{}", 0).is_err());
        let prefix = headers(&[("X-SmartHR-Token", "to")]);
        assert!(verify_delivery(&v, "tok", &prefix, b"{}", 0).is_err());
        let missing = verify_delivery(&v, "tok", &[], b"{}", 0).unwrap_err();
        assert!(missing.contains("no `X-SmartHR-Token` header"), "{missing}");
    }

    fn signed(ts: Option<&str>, body: &[u8], key: &str) -> Vec<u8> {
        let mut m = mac(key);
        if let Some(ts) = ts {
            m.update(ts.as_bytes());
            m.update(b".");
        }
        m.update(body);
        m.finalize().into_bytes().to_vec()
    }

    #[test]
    fn an_hmac_signature_covers_the_time_and_body_within_the_tolerance() {
        let v = DeliveryVerification::HmacSha256(HmacSignature {
            signature_header: "X-Signature".into(),
            prefix: "sha256=".into(),
            encoding: SignatureEncoding::Hex,
            timestamp_header: Some("X-Timestamp".into()),
            tolerance_seconds: 300,
        });
        let body = br#"{"id":1}"#;
        let sig = format!("sha256={}", hex::encode(signed(Some("1000"), body, "k")));
        let h = headers(&[("X-Signature", &sig), ("X-Timestamp", "1000")]);
        assert_eq!(verify_delivery(&v, "k", &h, body, 1100), Ok(()));
        assert!(verify_delivery(&v, "k", &h, b"{\"id\":2}", 1100).is_err());
        assert!(verify_delivery(&v, "other", &h, body, 1100).is_err());
        let late = verify_delivery(&v, "k", &h, body, 1400).unwrap_err();
        assert!(late.contains("more than the 300s allowed"), "{late}");
        let moved = headers(&[("X-Signature", &sig), ("X-Timestamp", "1001")]);
        assert!(verify_delivery(&v, "k", &moved, body, 1100).is_err());
        let bare = headers(&[("X-Signature", &sig[7..]), ("X-Timestamp", "1000")]);
        assert!(verify_delivery(&v, "k", &bare, body, 1100).is_err());

        let b64 = DeliveryVerification::HmacSha256(HmacSignature {
            signature_header: "X-Sig".into(),
            prefix: String::new(),
            encoding: SignatureEncoding::Base64,
            timestamp_header: None,
            tolerance_seconds: 0,
        });
        let sig = base64::engine::general_purpose::STANDARD.encode(signed(None, body, "k"));
        assert_eq!(
            verify_delivery(&b64, "k", &headers(&[("x-sig", &sig)]), body, 0),
            Ok(())
        );
    }
}
