//! The adapter contract of NestJS's `WebSocketAdapter`, in Rust (DESIGN §2).
//!
//! | NestJS | wsgate |
//! |---|---|
//! | `create(port, options)` | [`WebSocketAdapter::create`] |
//! | `bindClientConnect(server, cb)` | [`WebSocketAdapter::bind_client_connect`] |
//! | `bindClientDisconnect(client, cb)` | [`WebSocketAdapter::bind_client_disconnect`] |
//! | `bindMessageHandlers(client, handlers, process)` | [`WebSocketAdapter::bind_message_handlers`] |
//! | `close(server)` | [`WebSocketAdapter::close`] |
//!
//! Each transport implements it; gateways and handlers are the same on every transport.
//! This module owns only the contract: it has no code of its own, and never knows which
//! transport implements it.

use crate::gateway::GatewayId;
pub use crate::server::{ConnectCallback, DisconnectCallback};

/// The five operations of NestJS's `WebSocketAdapter`.
pub trait WebSocketAdapter {
    /// What `create` needs besides the port (address, limits, pages...).
    type Options;
    /// What `bind_message_handlers` takes: a gateway in the form this transport stores.
    type Gateway;
    /// The transport's error.
    type Error;

    /// Creates a server that will listen on `port`.
    fn create(port: u16, options: Self::Options) -> Result<Self, Self::Error>
    where
        Self: Sized;

    /// Calls `callback` after each client's upgrade (after the gateway's connect hook).
    fn bind_client_connect(&mut self, callback: ConnectCallback);

    /// Calls `callback` once per client when it leaves, with the close code.
    fn bind_client_disconnect(&mut self, callback: DisconnectCallback);

    /// Adds a gateway: its path, its fixed handler table and its hooks.
    fn bind_message_handlers(&mut self, gateway: Self::Gateway) -> Result<GatewayId, Self::Error>;

    /// Stops accepting and closes every client with 1001 Going Away.
    fn close(&mut self);
}
