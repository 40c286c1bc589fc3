//! Delivery of a subscription's events to its webhook target.
//!
//! At least once, in order: the host posts the oldest event the target has
//! not taken, and moves on only when the target answers 2xx. A failed
//! attempt is retried after a delay that doubles from one second to ten
//! minutes; after [`MAX_DELIVERY_ATTEMPTS`] attempts (57 minutes of an
//! unreachable target) the event goes to the subscription's dead
//! letters and the next one is delivered. `redeliver` sends the dead letters
//! again, in order. The target's position is stored after each answer, so a
//! host killed between the target's 2xx and the store's write sends that
//! event once more after restart — under the same event id, which receivers
//! deduplicate on.
//!
//! Every delivery is signed with the subscription's secret (shown once when
//! it is created): `cardhost-signature: t=<unix seconds>,v1=<hex>`, where
//! the hex is HMAC-SHA256 of `<t>.<body>` keyed with the secret.

use super::Subscriptions;
use crate::connections::ConnectionError;
use crate::store::{DeliveryOutcome, EventRecord, SIGNING_SECRET, StoreError, SubscriptionRecord};
use hmac::{KeyInit, Mac};
use serde_json::json;
use std::time::{Duration, Instant};

/// Attempts at one event before it becomes a dead letter.
pub const MAX_DELIVERY_ATTEMPTS: u32 = 15;
/// The longest wait between two attempts.
pub const MAX_DELIVERY_BACKOFF: Duration = Duration::from_secs(600);
/// How long a target has to answer one delivery.
pub const DELIVERY_TIMEOUT: Duration = Duration::from_secs(10);
/// How old a signature's timestamp may be before a receiver should refuse
/// it (what [`verify_signature`] allows).
pub const SIGNATURE_TOLERANCE: Duration = Duration::from_secs(300);
/// The header carrying a delivery's signature.
pub const SIGNATURE_HEADER: &str = "cardhost-signature";
/// How long one node delivers for one subscription before it lets others
/// have a turn.
const DELIVERY_TURN: Duration = Duration::from_secs(60);
/// Events read from the store at once for delivery.
const DELIVERY_BATCH: u32 = 64;

type HmacSha256 = hmac::Hmac<sha2::Sha256>;

pub(super) fn mac(secret: &str) -> HmacSha256 {
    // HMAC takes a key of any length.
    HmacSha256::new_from_slice(secret.as_bytes()).expect("HMAC accepts keys of any length")
}

/// The `cardhost-signature` value for `body` sent at `timestamp` (Unix
/// seconds).
pub fn sign(secret: &str, timestamp: i64, body: &[u8]) -> String {
    let mut m = mac(secret);
    m.update(timestamp.to_string().as_bytes());
    m.update(b".");
    m.update(body);
    format!(
        "t={timestamp},v1={}",
        hex::encode(m.finalize().into_bytes())
    )
}

/// Checks a `cardhost-signature` value as a receiver would: a `v1` that is
/// the HMAC of `<t>.<body>` under `secret`, compared in constant time, and
/// a `t` within [`SIGNATURE_TOLERANCE`] of `now` (Unix seconds).
pub fn verify_signature(secret: &str, header: &str, body: &[u8], now: i64) -> Result<(), String> {
    let mut timestamp = None;
    let mut signatures = Vec::new();
    for part in header.split(',') {
        match part.trim().split_once('=') {
            Some(("t", t)) => timestamp = t.parse::<i64>().ok(),
            Some(("v1", v)) => signatures.push(v),
            _ => {}
        }
    }
    let timestamp = timestamp.ok_or("the signature has no timestamp (`t=`)")?;
    if (now - timestamp).unsigned_abs() > SIGNATURE_TOLERANCE.as_secs() {
        return Err(format!(
            "the signature's timestamp is {}s from now, more than the {}s allowed",
            now - timestamp,
            SIGNATURE_TOLERANCE.as_secs()
        ));
    }
    for v in signatures {
        let Ok(tag) = hex::decode(v) else { continue };
        let mut m = mac(secret);
        m.update(timestamp.to_string().as_bytes());
        m.update(b".");
        m.update(body);
        if m.verify_slice(&tag).is_ok() {
            return Ok(());
        }
    }
    Err("no `v1` signature matches the body".into())
}

/// How long to wait after the `attempts`-th failed attempt: one second,
/// doubled per attempt, at most [`MAX_DELIVERY_BACKOFF`].
pub fn delivery_backoff(attempts: u32) -> Duration {
    let factor = 1u32 << attempts.saturating_sub(1).min(16);
    Duration::from_secs(u64::from(factor)).min(MAX_DELIVERY_BACKOFF)
}

/// What one turn of delivery did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delivered {
    /// Events the target took.
    pub delivered: usize,
    /// The failure that ended the turn, if one did.
    pub failed: Option<String>,
}

impl Subscriptions {
    /// Delivers `sub`'s waiting events to its webhook target, oldest first,
    /// until one fails, none is left, or the turn is over.
    pub async fn deliver(&self, sub: &SubscriptionRecord) -> Result<Delivered, ConnectionError> {
        self.deliver_while(sub, &std::sync::atomic::AtomicBool::new(false))
            .await
    }

    /// [`deliver`](Self::deliver), stopping between events once `lost`
    /// says the delivery lease went to another node.
    pub(super) async fn deliver_while(
        &self,
        sub: &SubscriptionRecord,
        lost: &std::sync::atomic::AtomicBool,
    ) -> Result<Delivered, ConnectionError> {
        let crate::store::Target::Webhook { url } = &sub.target else {
            return Ok(Delivered {
                delivered: 0,
                failed: None,
            });
        };
        let url = url::Url::parse(url)
            .map_err(|e| ConnectionError::Invalid(format!("the target URL: {e}")))?;
        let secret = self
            .store
            .subscription_secret(&sub.id, SIGNING_SECRET)
            .await?
            .ok_or_else(|| {
                StoreError::Backend(format!("subscription {} has no signing secret", sub.id))
            })?;
        let started = Instant::now();
        let mut position = sub.delivered_seq;
        let mut attempts = sub.delivery_attempts;
        let mut delivered = 0;
        let mut batch = std::collections::VecDeque::new();
        while started.elapsed() < DELIVERY_TURN && !lost.load(std::sync::atomic::Ordering::SeqCst) {
            if batch.is_empty() {
                batch.extend(self.store.events(&sub.id, position, DELIVERY_BATCH).await?);
            }
            let Some(event) = batch.pop_front() else {
                break;
            };
            let outcome = match self.post(sub, &url, secret.expose(), &event).await {
                Ok(()) => DeliveryOutcome::Delivered,
                Err(error) => {
                    attempts += 1;
                    tracing::warn!(
                        subscription = %sub.id,
                        event = %event.id,
                        attempts,
                        "delivery failed: {error}"
                    );
                    if attempts >= MAX_DELIVERY_ATTEMPTS {
                        DeliveryOutcome::Dead {
                            error: format!("{error} ({attempts} attempts)"),
                        }
                    } else {
                        DeliveryOutcome::Retry {
                            error,
                            next_at_ms: crate::store::now_ms()
                                + delivery_backoff(attempts).as_millis() as i64,
                        }
                    }
                }
            };
            self.store
                .record_delivery(&sub.id, event.seq, &outcome)
                .await?;
            match outcome {
                DeliveryOutcome::Delivered => {
                    delivered += 1;
                    position = event.seq;
                    attempts = 0;
                }
                DeliveryOutcome::Dead { error } => {
                    tracing::warn!(subscription = %sub.id, event = %event.id, "dead letter: {error}");
                    position = event.seq;
                    attempts = 0;
                }
                DeliveryOutcome::Retry { error, .. } => {
                    return Ok(Delivered {
                        delivered,
                        failed: Some(error),
                    });
                }
            }
        }
        Ok(Delivered {
            delivered,
            failed: None,
        })
    }

    /// Posts one event, signed; Ok when the target answered 2xx.
    async fn post(
        &self,
        sub: &SubscriptionRecord,
        url: &url::Url,
        secret: &str,
        event: &EventRecord,
    ) -> Result<(), String> {
        let body = serde_json::to_vec(&json!({
            "subscription": sub.id,
            "connection": sub.connection_id,
            "trigger": sub.trigger,
            "event": {
                "id": event.id,
                "occurred_at": event.occurred_at,
                "payload": event.payload,
                "seq": event.seq,
            },
        }))
        .map_err(|e| e.to_string())?;
        let transport = self.conns.host().broker().transport();
        let request = transport
            .host_request(reqwest::Method::POST, url)?
            .timeout(DELIVERY_TIMEOUT)
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .header(
                SIGNATURE_HEADER,
                sign(secret, crate::store::now_secs(), &body),
            )
            .header("cardhost-event-id", &event.id)
            .header("cardhost-subscription", &sub.id)
            .body(body);
        let response = transport.send_host_request(request).await?;
        let status = response.status();
        if status.is_success() {
            Ok(())
        } else {
            Err(format!("the target answered {status}"))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signatures_verify_only_for_their_body_secret_and_time() {
        let body = br#"{"event":{"id":"e1"}}"#;
        let header = sign("whsec_1", 1_000, body);
        assert!(header.starts_with("t=1000,v1="), "{header}");
        assert_eq!(verify_signature("whsec_1", &header, body, 1_010), Ok(()));
        assert!(verify_signature("whsec_2", &header, body, 1_010).is_err());
        assert!(verify_signature("whsec_1", &header, b"{}", 1_010).is_err());
        let stale = verify_signature("whsec_1", &header, body, 2_000).unwrap_err();
        assert!(stale.contains("1000s from now"), "{stale}");
        assert!(verify_signature("whsec_1", "v1=00", body, 1_000).is_err());
        // A second, unknown scheme or a rotated secret's signature is ignored.
        let both = format!("{header},v0=zz,v1=abcd");
        assert_eq!(verify_signature("whsec_1", &both, body, 1_000), Ok(()));
    }

    #[test]
    fn delivery_backoff_doubles_to_ten_minutes() {
        assert_eq!(delivery_backoff(1), Duration::from_secs(1));
        assert_eq!(delivery_backoff(4), Duration::from_secs(8));
        assert_eq!(delivery_backoff(11), MAX_DELIVERY_BACKOFF);
        assert_eq!(delivery_backoff(40), MAX_DELIVERY_BACKOFF);
        let total: Duration = (1..MAX_DELIVERY_ATTEMPTS).map(delivery_backoff).sum();
        assert_eq!(total, Duration::from_secs(3423));
    }
}
