//! # wsgate
//!
//! A WebSocket server adapter for microcontrollers and hosts that speaks the wire protocol of
//! NestJS's `WsAdapter` (`{"event": ..., "data": ...}` messages dispatched to handlers), with
//! no heap: fixed handler tables, fixed connection slots, buffers sized at compile time, and
//! no panic on any input.
//!
//! Layers, bottom up (see `DESIGN.md` of the project); each names only the layers below it:
//!
//! - [`stats`]: the counters, a leaf (as is the crate-private byte toolkit `bytes`).
//! - [`protocol`]: the wire. HTTP/1.1 upgrade, frame codec, close codes, UTF-8. Pure functions
//!   over byte slices.
//! - [`json`]: JSON scanning, validation, strings and writing, in place and bounded; beside
//!   `protocol`, knowing nothing of events or WebSocket.
//! - [`connection`]: one client's sans-IO state machine: bytes in, bytes out, events out.
//! - [`gateway`]: the NestJS layer: a path, a fixed table of `(event, handler)`, hooks and a
//!   state value shared by the handlers, and the one pipeline every gateway runs a message
//!   through.
//! - [`socketio`]: socket.io (NestJS's `IoAdapter`): so far the Engine.IO v4 and Socket.IO
//!   v5 packet codecs.
//! - [`server`]: N connection slots, the gateways and the routing of requests to them; what
//!   transports drive. It knows no transport.
//! - [`transport`]: the layers that own sockets and clocks. `transport::tokio` (feature
//!   `tokio`): the host transport. `transport::embassy` (feature `embassy`): embassy-net, with
//!   its async session loop over `embedded_io_async` (`transport::embassy::session`).
//! - [`adapter`]: NestJS's adapter contract, which the transports implement.
//! - `ffi` (feature `ffi`): the C ABI, where C owns the sockets.
//!
//! What an application names is re-exported here at the root: [`Server`], [`Config`],
//! [`Gateway`], [`Context`], [`Data`], the errors ([`HandlerError`], [`SendError`],
//! [`ServerError`], [`Refused`]) and [`Stats`].
//!
//! ```
//! use wsgate::gateway::{Context, Data, Gateway, HandlerResult};
//!
//! struct Counter { hits: u32 }
//!
//! fn events(state: &mut Counter, cx: &mut Context<'_>, _data: Data<'_>) -> HandlerResult {
//!     state.hits += 1;
//!     for i in 1..=3 {
//!         cx.reply("events", &i)?; // {"event":"events","data":1} ...
//!     }
//!     Ok(())
//! }
//!
//! let mut gateway: Gateway<Counter, 4> = Gateway::new("/", Counter { hits: 0 });
//! gateway.on("events", events).unwrap();
//! gateway.on("echo", |_, cx, data| Ok(cx.reply_raw("echo", data.json())?)).unwrap();
//! ```
#![no_std]
#![cfg_attr(docsrs, feature(doc_cfg))]
#![deny(unsafe_code)]
#![warn(missing_docs)]

#[cfg(feature = "std")]
extern crate std;

#[cfg(all(feature = "log", feature = "defmt"))]
compile_error!(
    "features `log` and `defmt` are mutually exclusive: build with --no-default-features --features defmt"
);

#[macro_use]
mod fmt;

pub mod adapter;
mod bytes;
pub mod connection;
#[cfg(feature = "ffi")]
pub mod ffi;
#[cfg(all(feature = "ffi-panic-handler", not(feature = "std"), not(test)))]
mod ffi_panic;
pub mod gateway;
pub mod json;
pub mod protocol;
pub mod server;
pub mod socketio;
pub mod stats;
pub mod transport;

// What an application names: the server and its settings, a gateway and what its handlers
// see, the results and errors of the API, and the counters.
pub use adapter::WebSocketAdapter;
pub use connection::{Connection, MessageKind, SendError, Timeouts};
pub use gateway::{
    Broadcast, ClientId, ConnectInfo, Context, Data, DropReason, Gateway, GatewayId, HandlerError,
    HandlerResult, Service,
};
pub use protocol::close::CloseCode;
pub use server::{Config, Page, Refused, Server, ServerError};
pub use stats::Stats;

/// The README's code compiles (checked by `cargo test --doc`).
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;
