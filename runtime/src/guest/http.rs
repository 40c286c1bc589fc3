//! The host side of `cardhost:connector/http`: every request a card makes
//! goes to the broker, within the invocation's request budget, and what
//! comes back is scrubbed of the connection's secrets before the guest sees
//! it.

use super::GuestState;
use super::sandbox::LimitHit;
use crate::bindings::http::{HttpError, Request, Response};

impl crate::bindings::http::Host for GuestState {
    async fn send(&mut self, request: Request) -> wasmtime::Result<Result<Response, HttpError>> {
        let limit = self.broker.limits().max_requests_per_invocation;
        if self.scope.attempted_requests() >= limit {
            return Err(LimitHit {
                limit: "max_requests_per_invocation",
                message: format!("the card asked for more than {limit} upstream requests"),
            }
            .into());
        }
        let response = self.broker.send(&self.scope, request).await;
        // What the guest is handed carries none of the connection's secrets,
        // whatever the upstream echoed back.
        Ok(match response {
            Ok(response) => Ok(self.scope.scrub_response(response)),
            Err(err) => Err(self.scope.scrub_error(err)),
        })
    }
}

/// A 0.1 connector's request, sent as the same request in 0.2.
impl crate::bindings::v0_1::cardhost::connector::http::Host for GuestState {
    async fn send(
        &mut self,
        request: crate::bindings::v0_1::cardhost::connector::http::Request,
    ) -> wasmtime::Result<
        Result<
            crate::bindings::v0_1::cardhost::connector::http::Response,
            crate::bindings::v0_1::cardhost::connector::http::HttpError,
        >,
    > {
        let answer = crate::bindings::http::Host::send(self, request.into()).await?;
        Ok(answer.map(Into::into).map_err(Into::into))
    }
}
