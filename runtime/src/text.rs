//! Text helpers: cutting guest-supplied text to a byte cap before any
//! other work on it.

/// `text` cut to at most `max` bytes on a character boundary, with `…` when
/// something was cut. Cutting comes before any escaping or redaction, so a
/// hostile line costs the host no more than the cap.
pub fn truncate(text: &str, max: usize) -> std::borrow::Cow<'_, str> {
    if text.len() <= max {
        return std::borrow::Cow::Borrowed(text);
    }
    let mut cut = max;
    while !text.is_char_boundary(cut) {
        cut -= 1;
    }
    std::borrow::Cow::Owned(format!("{}…", &text[..cut]))
}
