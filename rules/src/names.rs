//! Ids and versions a manifest declares.

/// Whether `id` is lowercase kebab-case (`[a-z][a-z0-9]*(-[a-z0-9]+)*`), up
/// to 64 chars: connector and card ids.
pub fn is_kebab_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= 64
        && id.starts_with(|c: char| c.is_ascii_lowercase())
        && !id.ends_with('-')
        && !id.contains("--")
        && id
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
}

/// Whether `id` is a permission, secret, auth method or field id: lowercase
/// letters, digits, `-` and `_`, starting with a letter, up to 64 chars.
pub fn is_name(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= 64
        && id.starts_with(|c: char| c.is_ascii_lowercase())
        && id
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_')
}

/// Whether `v` is a semver version (`1.2.0`, `1.2.0-rc.1+build`).
pub fn is_semver(v: &str) -> bool {
    let core = v.split(['-', '+']).next().unwrap_or("");
    let parts: Vec<&str> = core.split('.').collect();
    parts.len() == 3
        && parts
            .iter()
            .all(|p| !p.is_empty() && p.chars().all(|c| c.is_ascii_digit()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_names_and_versions() {
        assert!(is_kebab_id("fourth-scim") && is_kebab_id("a1"));
        for bad in ["", "Smarthr", "a--b", "a-", "1a", "a_b"] {
            assert!(!is_kebab_id(bad), "{bad}");
        }
        assert!(is_name("crews_write") && is_name("crews-write"));
        assert!(!is_name("_x") && !is_name("X"));
        assert!(is_semver("1.2.0") && is_semver("0.1.0-rc.1+b7"));
        assert!(!is_semver("1.2") && !is_semver("1.x.0"));
    }
}
