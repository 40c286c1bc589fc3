//! Where requests and log lines leave the connector: the host's imports on
//! wasm, a test double on native targets so card logic can be unit-tested.

use crate::error::Result;
use crate::http::{Request, Response};
use crate::log::Level;

#[cfg(target_arch = "wasm32")]
pub(crate) fn send(request: Request) -> Result<Response> {
    use crate::bindings::cardhost::connector::http as wit;
    use crate::bindings::cardhost::connector::types::Method as WitMethod;
    use crate::http::{HttpError, Method};

    let method = match request.method {
        Method::Get => WitMethod::Get,
        Method::Head => WitMethod::Head,
        Method::Post => WitMethod::Post,
        Method::Put => WitMethod::Put,
        Method::Patch => WitMethod::Patch,
        Method::Delete => WitMethod::Delete,
    };
    let wit_request = wit::Request {
        method,
        url: request.url,
        query: request.query,
        headers: request.headers,
        body: request.body,
    };
    match wit::send(&wit_request) {
        Ok(r) => Ok(Response {
            status: r.status,
            headers: r.headers,
            body: r.body,
        }),
        Err(e) => Err(match e {
            wit::HttpError::Denied(d) => HttpError::Denied(d.message),
            wit::HttpError::InvalidRequest(m) => HttpError::InvalidRequest(m),
            wit::HttpError::RequestTooLarge(n) => HttpError::RequestTooLarge(n),
            wit::HttpError::ResponseTooLarge(n) => HttpError::ResponseTooLarge(n),
            wit::HttpError::Timeout(m) => HttpError::Timeout(m),
            wit::HttpError::DeadlineExceeded => HttpError::DeadlineExceeded,
            wit::HttpError::Transport(m) => HttpError::Transport(m),
        }
        .into()),
    }
}

#[cfg(target_arch = "wasm32")]
pub(crate) fn log(level: Level, message: &str) {
    use crate::bindings::cardhost::connector::log as wit;
    let level = match level {
        Level::Debug => wit::Level::Debug,
        Level::Info => wit::Level::Info,
        Level::Warn => wit::Level::Warn,
        Level::Error => wit::Level::Error,
    };
    wit::log(level, message);
}

#[cfg(not(target_arch = "wasm32"))]
pub use native::*;

#[cfg(not(target_arch = "wasm32"))]
mod native {
    use super::*;
    use std::cell::RefCell;

    type Handler = Box<dyn FnMut(&Request) -> Result<Response>>;

    thread_local! {
        static HANDLER: RefCell<Option<Handler>> = RefCell::new(None);
        static LOGS: RefCell<Vec<(Level, String)>> = const { RefCell::new(Vec::new()) };
    }

    /// Native tests only: answers every request on this thread with `handler`,
    /// standing in for the upstream. Under [`invoke`](crate::testing::invoke)
    /// a request the card's permissions do not allow is refused before
    /// `handler` sees it, as the host's broker would.
    pub fn mock_http(handler: impl FnMut(&Request) -> Result<Response> + 'static) {
        HANDLER.with(|h| *h.borrow_mut() = Some(Box::new(handler)));
    }

    /// Native tests only: the log lines recorded on this thread so far.
    pub fn take_logs() -> Vec<(Level, String)> {
        LOGS.with(|l| std::mem::take(&mut *l.borrow_mut()))
    }

    pub(crate) fn send(request: Request) -> Result<Response> {
        crate::testing::check_request(&request)?;
        HANDLER.with(|h| match h.borrow_mut().as_mut() {
            Some(handler) => handler(&request),
            None => Err(crate::Error::Internal(
                "no HTTP handler: call cardhost_sdk::testing::mock_http in native tests".into(),
            )),
        })
    }

    pub(crate) fn log(level: Level, message: &str) {
        LOGS.with(|l| l.borrow_mut().push((level, message.to_string())));
    }
}
