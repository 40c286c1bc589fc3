//! Templates: `{name}` is a connection field or environment variable,
//! `{secret.name}` a secret, everything else literal. URL, origin and
//! credential templates all use this one syntax.

/// One piece of a template: literal text or a placeholder's name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Piece<'a> {
    /// Literal text.
    Text(&'a str),
    /// `{name}`: a connection field or environment variable.
    Var(&'a str),
    /// `{secret.name}`: a secret.
    Secret(&'a str),
}

/// A template split into its pieces, or why it is malformed.
pub fn pieces(template: &str) -> Result<Vec<Piece<'_>>, String> {
    let mut out = Vec::new();
    let mut rest = template;
    while let Some(open) = rest.find('{') {
        if open > 0 {
            out.push(Piece::Text(&rest[..open]));
        }
        let after = &rest[open + 1..];
        let close = after
            .find('}')
            .ok_or_else(|| format!("template `{template}` has an unclosed `{{`"))?;
        let name = &after[..close];
        if name.is_empty() || name.contains('{') {
            return Err(format!(
                "template `{template}` has an empty or nested placeholder"
            ));
        }
        out.push(match name.strip_prefix("secret.") {
            Some(secret) => Piece::Secret(secret),
            None => Piece::Var(name),
        });
        rest = &after[close + 1..];
    }
    if rest.contains('}') {
        return Err(format!("template `{template}` has a stray `}}`"));
    }
    if !rest.is_empty() {
        out.push(Piece::Text(rest));
    }
    Ok(out)
}

/// Placeholder names in a template (`{tenant_id}` → `tenant_id`,
/// `{secret.key}` → `secret.key`).
pub fn placeholders(template: &str) -> Result<Vec<String>, String> {
    Ok(pieces(template)?
        .into_iter()
        .filter_map(|p| match p {
            Piece::Text(_) => None,
            Piece::Var(name) => Some(name.to_string()),
            Piece::Secret(name) => Some(format!("secret.{name}")),
        })
        .collect())
}

/// Names of the secrets a template uses (`{secret.name}`); none for a
/// malformed template, which validation refuses.
pub fn referenced_secrets(template: &str) -> Vec<&str> {
    pieces(template)
        .unwrap_or_default()
        .into_iter()
        .filter_map(|p| match p {
            Piece::Secret(name) => Some(name),
            _ => None,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn templates_split_into_text_fields_and_secrets() {
        assert_eq!(
            pieces("https://{host}/t?k={secret.key}").unwrap(),
            [
                Piece::Text("https://"),
                Piece::Var("host"),
                Piece::Text("/t?k="),
                Piece::Secret("key"),
            ]
        );
        assert_eq!(placeholders("{a}-{secret.b}").unwrap(), ["a", "secret.b"]);
        assert_eq!(referenced_secrets("x{secret.a}{b}{secret.c}"), ["a", "c"]);
        assert!(pieces("{open").is_err());
        assert!(pieces("stray}").is_err());
        assert!(pieces("{}").is_err());
    }
}
