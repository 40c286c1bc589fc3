//! Server API keys: `chk_<id>_<secret>`. Only the SHA-256 of the secret is
//! stored; a presented key is found by its id and compared in constant time.

use crate::store::{ApiKeyRecord, Role, Store, StoreError, now_secs};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64URL;
use sha2::{Digest, Sha256};

const PREFIX: &str = "chk_";

/// A newly created key: shown once, never stored.
#[derive(Debug, Clone, serde::Serialize)]
pub struct NewKey {
    /// The full key, to give to the client.
    pub key: String,
    /// Its stored record.
    pub record: ApiKeyRecord,
}

/// Creates and stores a key.
pub async fn create(store: &dyn Store, name: &str, role: Role) -> Result<NewKey, StoreError> {
    let id = hex::encode(rand::random::<[u8; 6]>());
    let secret = B64URL.encode(rand::random::<[u8; 32]>());
    let record = ApiKeyRecord {
        id: id.clone(),
        name: name.to_string(),
        role,
        hash: Sha256::digest(secret.as_bytes()).into(),
        created_at: now_secs(),
        revoked_at: None,
    };
    store.create_api_key(&record).await?;
    Ok(NewKey {
        key: format!("{PREFIX}{id}_{secret}"),
        record,
    })
}

/// Equal in time independent of where the inputs differ.
fn constant_time_eq(a: &[u8; 32], b: &[u8; 32]) -> bool {
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// The active key record matching `presented`, if any.
pub async fn verify(
    store: &dyn Store,
    presented: &str,
) -> Result<Option<ApiKeyRecord>, StoreError> {
    let Some((id, secret)) = presented
        .strip_prefix(PREFIX)
        .and_then(|rest| rest.split_once('_'))
    else {
        return Ok(None);
    };
    let Some(record) = store.api_key(id).await? else {
        return Ok(None);
    };
    let hash: [u8; 32] = Sha256::digest(secret.as_bytes()).into();
    if constant_time_eq(&hash, &record.hash) && record.revoked_at.is_none() {
        Ok(Some(record))
    } else {
        Ok(None)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::{MasterKey, SqliteStore};

    #[tokio::test]
    async fn keys_verify_until_revoked_and_only_as_issued() {
        let dir = tempfile::tempdir().unwrap();
        let store =
            SqliteStore::open(&dir.path().join("k.db"), vec![MasterKey::generate()]).unwrap();
        let new = create(&store, "ci", Role::Invoker).await.unwrap();
        let found = verify(&store, &new.key).await.unwrap().unwrap();
        assert_eq!(found.role, Role::Invoker);
        let mut tampered = new.key.clone();
        tampered.push('x');
        assert!(verify(&store, &tampered).await.unwrap().is_none());
        assert!(verify(&store, "chk_nope_nope").await.unwrap().is_none());
        assert!(verify(&store, "Bearer whatever").await.unwrap().is_none());
        assert!(store.revoke_api_key(&new.record.id).await.unwrap());
        assert!(verify(&store, &new.key).await.unwrap().is_none());
        let raw = std::fs::read(dir.path().join("k.db")).unwrap();
        let secret = new.key.rsplit('_').next().unwrap();
        assert!(!raw.windows(secret.len()).any(|w| w == secret.as_bytes()));
    }
}
