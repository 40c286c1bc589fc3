//! The network edge every outbound request crosses, whoever makes it (the
//! broker for a card, the OAuth2 client for a token): URL and header rules
//! ([`url`]), the allow-list of origins ([`allow`]), the guard against
//! private addresses ([`ssrf`]) and the HTTP transport with its caps
//! ([`transport`]).

pub mod allow;
pub mod ssrf;
pub mod transport;
pub mod url;
