//! Secrets at rest: XChaCha20-Poly1305 under a 256-bit master key.
//!
//! The key comes from `CARDHOST_MASTER_KEY` (64 hex digits or base64 of 32
//! bytes) or from a key file created with mode 0600 on first use. Every
//! sealed value carries the id of the key that sealed it and is bound (as
//! associated data) to the row it belongs to, so a ciphertext copied to
//! another connection or secret name does not open.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use sha2::{Digest, Sha256};
use std::io::Write as _;
use std::path::{Path, PathBuf};

/// Environment variable holding the master key.
pub const MASTER_KEY_ENV: &str = "CARDHOST_MASTER_KEY";

const FORMAT: &[u8; 3] = b"ch1";
const NONCE_LEN: usize = 24;

/// A 256-bit master key.
#[derive(Clone)]
pub struct MasterKey {
    key: [u8; 32],
    id: String,
}

impl Drop for MasterKey {
    fn drop(&mut self) {
        // Key material does not outlive its use in freed memory.
        zeroize::Zeroize::zeroize(&mut self.key);
    }
}

impl std::fmt::Debug for MasterKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "MasterKey({})", self.id)
    }
}

/// Where the key came from, for messages.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeySource {
    /// The `CARDHOST_MASTER_KEY` environment variable.
    Env,
    /// A key file.
    File(PathBuf),
}

impl std::fmt::Display for KeySource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            KeySource::Env => write!(f, "${MASTER_KEY_ENV}"),
            KeySource::File(p) => write!(f, "key file {}", p.display()),
        }
    }
}

impl MasterKey {
    /// A fresh random key.
    pub fn generate() -> Self {
        Self::from_bytes(rand::random())
    }

    /// The key with these bytes.
    pub fn from_bytes(key: [u8; 32]) -> Self {
        let digest = Sha256::digest([b"cardhost-key-id:".as_slice(), &key].concat());
        Self {
            key,
            id: hex::encode(&digest[..8]),
        }
    }

    /// Parses 64 hex digits or base64 of 32 bytes.
    pub fn parse(text: &str) -> Result<Self, String> {
        let text = text.trim();
        let bytes = if text.len() == 64 && text.bytes().all(|b| b.is_ascii_hexdigit()) {
            hex::decode(text).map_err(|e| e.to_string())?
        } else {
            B64.decode(text)
                .map_err(|_| "a master key is 64 hex digits or base64 of 32 bytes".to_string())?
        };
        let key: [u8; 32] = bytes.try_into().map_err(|b: Vec<u8>| {
            format!(
                "a master key is 32 bytes (64 hex digits or base64), this one is {} bytes",
                b.len()
            )
        })?;
        Ok(Self::from_bytes(key))
    }

    /// Short public id of the key (not secret: a hash prefix).
    pub fn id(&self) -> &str {
        &self.id
    }

    /// The key as base64, for writing a key file.
    pub fn to_base64(&self) -> String {
        B64.encode(self.key)
    }

    /// Loads the key from the environment, else from `file`; `None` when
    /// neither has one.
    pub fn load(file: &Path) -> Result<Option<(Self, KeySource)>, String> {
        if let Ok(value) = std::env::var(MASTER_KEY_ENV) {
            let key = Self::parse(&value).map_err(|e| format!("${MASTER_KEY_ENV}: {e}"))?;
            return Ok(Some((key, KeySource::Env)));
        }
        match Self::read_file(file) {
            Ok(key) => Ok(Some((key, KeySource::File(file.to_path_buf())))),
            Err(ReadError::Missing) => Ok(None),
            Err(e) => Err(e.message(file)),
        }
    }

    /// Loads the key from the environment, else from `file`, creating the
    /// file (mode 0600) with a new key if it does not exist.
    pub fn load_or_create(file: &Path) -> Result<(Self, KeySource), String> {
        if let Some(loaded) = Self::load(file)? {
            return Ok(loaded);
        }
        let key = Self::generate();
        match write_key_file(file, &key, false) {
            Ok(()) => Ok((key, KeySource::File(file.to_path_buf()))),
            // Another process created it first: use theirs.
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Self::read_file(file)
                .map(|k| (k, KeySource::File(file.to_path_buf())))
                .map_err(|e| e.message(file)),
            Err(e) => Err(format!("cannot create key file {}: {e}", file.display())),
        }
    }

    /// Reads an existing key file, refusing one others can read.
    pub fn read_file(file: &Path) -> Result<Self, ReadError> {
        let text = match std::fs::read_to_string(file) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Err(ReadError::Missing),
            Err(e) => return Err(ReadError::Other(e.to_string())),
        };
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            let mode = std::fs::metadata(file)
                .map_err(|e| ReadError::Other(e.to_string()))?
                .permissions()
                .mode()
                & 0o777;
            if mode & 0o077 != 0 {
                return Err(ReadError::Other(format!(
                    "it is readable by others (mode {mode:o}); run `chmod 600` on it"
                )));
            }
        }
        Self::parse(&text).map_err(ReadError::Other)
    }

    /// Seals `plaintext`, bound to `context` (the row it belongs to).
    pub fn seal(&self, context: &str, plaintext: &[u8]) -> Vec<u8> {
        let cipher = XChaCha20Poly1305::new((&self.key).into());
        let nonce: [u8; NONCE_LEN] = rand::random();
        let sealed = cipher
            .encrypt(
                XNonce::from_slice(&nonce),
                Payload {
                    msg: plaintext,
                    aad: context.as_bytes(),
                },
            )
            .expect("XChaCha20-Poly1305 encryption cannot fail for in-memory input");
        let mut out = Vec::with_capacity(FORMAT.len() + NONCE_LEN + sealed.len());
        out.extend_from_slice(FORMAT);
        out.extend_from_slice(&nonce);
        out.extend_from_slice(&sealed);
        out
    }

    /// Opens a value sealed by [`MasterKey::seal`] with the same `context`.
    pub fn open(&self, context: &str, sealed: &[u8]) -> Result<Vec<u8>, String> {
        let body = sealed
            .strip_prefix(FORMAT.as_slice())
            .ok_or("unknown sealed-value format")?;
        if body.len() < NONCE_LEN {
            return Err("sealed value is truncated".into());
        }
        let (nonce, ciphertext) = body.split_at(NONCE_LEN);
        XChaCha20Poly1305::new((&self.key).into())
            .decrypt(
                XNonce::from_slice(nonce),
                Payload {
                    msg: ciphertext,
                    aad: context.as_bytes(),
                },
            )
            .map_err(|_| "it does not decrypt with this key (wrong key or tampered data)".into())
    }
}

/// Why a key file could not be read.
#[derive(Debug)]
pub enum ReadError {
    /// It does not exist.
    Missing,
    /// It exists but is unusable.
    Other(String),
}

impl ReadError {
    fn message(&self, file: &Path) -> String {
        match self {
            ReadError::Missing => format!("key file {} does not exist", file.display()),
            ReadError::Other(m) => format!("key file {}: {m}", file.display()),
        }
    }
}

/// Writes `key` to `file` with mode 0600, durably. With `replace` false the
/// file must not exist yet.
pub fn write_key_file(file: &Path, key: &MasterKey, replace: bool) -> std::io::Result<()> {
    if let Some(dir) = file.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let mut options = std::fs::OpenOptions::new();
    options.write(true);
    if replace {
        options.create(true).truncate(true);
    } else {
        options.create_new(true);
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt as _;
        options.mode(0o600);
    }
    let mut f = options.open(file)?;
    writeln!(f, "{}", key.to_base64())?;
    f.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sealed_values_open_only_with_their_key_and_context() {
        let key = MasterKey::generate();
        let sealed = key.seal("secret:c1:token", b"s3cr3t");
        assert!(!sealed.windows(6).any(|w| w == b"s3cr3t"));
        assert_eq!(key.open("secret:c1:token", &sealed).unwrap(), b"s3cr3t");
        assert!(key.open("secret:c2:token", &sealed).is_err());
        assert!(
            MasterKey::generate()
                .open("secret:c1:token", &sealed)
                .is_err()
        );
        let mut tampered = sealed.clone();
        *tampered.last_mut().unwrap() ^= 1;
        assert!(key.open("secret:c1:token", &tampered).is_err());
    }

    #[test]
    fn keys_parse_from_hex_and_base64_and_reject_wrong_lengths() {
        let key = MasterKey::generate();
        assert_eq!(MasterKey::parse(&key.to_base64()).unwrap().id(), key.id());
        assert_eq!(
            MasterKey::parse(&hex::encode(key.key)).unwrap().id(),
            key.id()
        );
        let err = MasterKey::parse(&B64.encode([0u8; 16])).unwrap_err();
        assert!(err.contains("16 bytes"), "{err}");
        assert!(MasterKey::parse("not a key!").is_err());
    }

    #[cfg(unix)]
    #[test]
    fn key_file_is_created_private_and_reused() {
        use std::os::unix::fs::PermissionsExt as _;
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("keys/master.key");
        let first = MasterKey::read_file(&file);
        assert!(matches!(first, Err(ReadError::Missing)));
        let key = MasterKey::generate();
        write_key_file(&file, &key, false).unwrap();
        let mode = std::fs::metadata(&file).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        assert_eq!(MasterKey::read_file(&file).unwrap().id(), key.id());
        assert!(write_key_file(&file, &MasterKey::generate(), false).is_err());
        std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o644)).unwrap();
        let Err(ReadError::Other(m)) = MasterKey::read_file(&file) else {
            panic!("a world-readable key file is refused");
        };
        assert!(m.contains("chmod 600"), "{m}");
    }
}
