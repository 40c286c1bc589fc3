//! Hiding secrets in text: every form in which a secret can appear in an
//! upstream's answer, a log line or an error.

use crate::net::url::encode_component;

/// What a secret is replaced with.
const MASK: &str = "••••";

/// Replaces every secret value in text with `••••`: raw, percent-encoded
/// (either hex case, `%20` or `+` for a space), JSON-escaped and base64
/// (standard and URL-safe, with or without padding, and at each of the three
/// alignments inside a longer base64 text).
#[derive(Clone, Default)]
pub struct Redactor {
    secrets: Vec<String>,
    matcher: Option<aho_corasick::AhoCorasick>,
    /// Longest form matched, in bytes.
    longest: usize,
}

impl std::fmt::Debug for Redactor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Redactor")
            .field("secrets", &self.secrets.len())
            .finish()
    }
}

/// Every form in which `secret` may come back from an upstream.
fn secret_forms(secret: &str) -> Vec<String> {
    use base64::Engine as _;
    use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD};
    let mut forms = vec![secret.to_string()];
    let encoded = encode_component(secret);
    forms.push(encoded.to_ascii_lowercase());
    forms.push(encoded);
    forms.push(url::form_urlencoded::byte_serialize(secret.as_bytes()).collect());
    if let Ok(json) = serde_json::to_string(secret) {
        forms.push(json.trim_matches('"').to_string());
    }
    for engine in [STANDARD, STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD] {
        forms.push(engine.encode(secret));
    }
    // Inside a longer base64 text the secret starts at one of three byte
    // alignments; the characters that depend on its bytes alone are the
    // same whatever surrounds it.
    let bytes = secret.as_bytes();
    for shift in 0..3usize {
        let mut shifted = vec![0u8; shift];
        shifted.extend_from_slice(bytes);
        let encoded = STANDARD_NO_PAD.encode(&shifted);
        let start = (shift * 8).div_ceil(6);
        let end = (shifted.len() * 8) / 6;
        if end > start && end - start >= 8 {
            let middle = &encoded[start..end];
            forms.push(middle.to_string());
            forms.push(middle.replace('+', "-").replace('/', "_"));
        }
    }
    forms.sort();
    forms.dedup();
    forms
}

impl Redactor {
    /// A redactor for these values (short values are ignored: redacting a
    /// two-letter secret would shred every message and protect nothing).
    pub fn new(values: impl IntoIterator<Item = String>) -> Self {
        let mut secrets: Vec<String> = values.into_iter().filter(|v| v.len() >= 4).collect();
        secrets.sort();
        secrets.dedup();
        let forms: Vec<String> = secrets.iter().flat_map(|s| secret_forms(s)).collect();
        let longest = forms.iter().map(String::len).max().unwrap_or(0);
        let matcher = if forms.is_empty() {
            None
        } else {
            aho_corasick::AhoCorasick::builder()
                .match_kind(aho_corasick::MatchKind::LeftmostLongest)
                .build(&forms)
                .ok()
        };
        Self {
            secrets,
            matcher,
            longest,
        }
    }

    /// Adds values learnt later (a refreshed access token).
    pub fn extend(&mut self, values: impl IntoIterator<Item = String>) {
        let before = self.secrets.len();
        let mut all = std::mem::take(&mut self.secrets);
        all.extend(values);
        all.sort();
        all.dedup();
        if all.len() == before {
            self.secrets = all;
            return;
        }
        *self = Self::new(all);
    }

    /// The text with every secret replaced.
    pub fn redact(&self, text: &str) -> String {
        match &self.matcher {
            Some(m) if m.is_match(text) => {
                let masks = vec![MASK; m.patterns_len()];
                m.replace_all(text, &masks)
            }
            _ => text.to_string(),
        }
    }

    /// Bytes with every secret replaced (`None` when there was none).
    pub fn redact_bytes(&self, bytes: &[u8]) -> Option<Vec<u8>> {
        let m = self.matcher.as_ref()?;
        if !m.is_match(bytes) {
            return None;
        }
        let masks = vec![MASK.as_bytes(); m.patterns_len()];
        Some(m.replace_all_bytes(bytes, &masks))
    }

    /// At most `max` bytes of `text`, redacted. The cut comes first, so a
    /// huge text costs no more than the cap, but with room for a secret
    /// that straddles the cut, which is then hidden whole.
    pub fn redact_capped(&self, text: &str, max: usize) -> String {
        let window = crate::text::truncate(text, max.saturating_add(self.longest));
        let redacted = self.redact(&window);
        crate::text::truncate(&redacted, max).into_owned()
    }
}
