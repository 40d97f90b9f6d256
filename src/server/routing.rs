//! HTTP routing: what the server answers to a parsed request head (DESIGN §3).
//!
//! [`decide`] owns the routing rules: 405 for a plain request that is not `GET`, the fixed
//! pages, 426 for a plain `GET` at a WebSocket path, 404 for anything else plain and for an
//! upgrade at no gateway, the upgrade checks ([`handshake::validate_upgrade`]), 503 while
//! the server is closing, the subprotocol choice and the gateway's [`Service::verify`]
//! hook. Gateways are matched by path in the order they were added; the first match wins.
//!
//! It decides from the request, the gateways, the pages and the closing flag only: it never
//! touches a connection, a buffer, a counter or a clock, and never parses the head. The
//! server parses the head once, acts on the [`Decision`] (writes the answer, counts it) and
//! hands the same parsed request to the connect hooks.

use super::Page;
use crate::gateway::{ClientId, Service, path_matches};
use crate::protocol::handshake::{self, Request};
use crate::protocol::http::{HttpError, Status};

/// What a request head asks for.
#[derive(Debug)]
pub(super) enum Decision {
    /// Answer with this HTTP error and close.
    Refuse(HttpError),
    /// Serve this fixed page and close.
    Page(&'static Page),
    /// Accept the upgrade for the gateway at this index, with the client's key and the
    /// chosen subprotocol.
    Accept {
        gateway: usize,
        key: [u8; 24],
        protocol: Option<&'static str>,
    },
}

/// Routes `req` from `client`: to one of `pages` (plain `GET`), to one of `gateways` (an
/// upgrade, after its `verify` hook), or to an HTTP error. `closing` refuses upgrades with
/// 503.
pub(super) fn decide(
    req: &Request<'_>,
    gateways: &mut [&mut dyn Service],
    pages: &'static [Page],
    closing: bool,
    client: ClientId,
) -> Decision {
    let gateway = gateways
        .iter_mut()
        .enumerate()
        .find(|(_, g)| path_matches(g.path(), req.path));
    if !req.wants_upgrade() {
        if req.method != "GET" {
            return Decision::Refuse(HttpError::new(
                Status::MethodNotAllowed,
                "only GET is served here",
            ));
        }
        if let Some(page) = pages.iter().find(|p| path_matches(p.path, req.path)) {
            return Decision::Page(page);
        }
        return Decision::Refuse(match gateway {
            Some(_) => HttpError::new(
                Status::UpgradeRequired,
                "this path is a WebSocket endpoint: send a WebSocket upgrade request",
            ),
            None => HttpError::new(Status::NotFound, "nothing at this path"),
        });
    }
    let upgrade = match handshake::validate_upgrade(req) {
        Ok(u) => u,
        Err(e) => return Decision::Refuse(e),
    };
    let Some((gateway, g)) = gateway else {
        return Decision::Refuse(HttpError::new(
            Status::NotFound,
            "no WebSocket gateway at this path",
        ));
    };
    if closing {
        return Decision::Refuse(HttpError::new(
            Status::ServiceUnavailable,
            "server shutting down",
        ));
    }
    let protocol = handshake::select_protocol(req, g.protocols());
    if let Err(e) = g.verify(client, req, protocol) {
        return Decision::Refuse(e);
    }
    // validate_upgrade accepts only 24-byte keys; checked again rather than assumed.
    let Ok(key) = <[u8; 24]>::try_from(upgrade.key) else {
        return Decision::Refuse(HttpError::new(
            Status::BadRequest,
            "missing or invalid Sec-WebSocket-Key",
        ));
    };
    Decision::Accept {
        gateway,
        key,
        protocol,
    }
}

#[cfg(test)]
mod tests;
