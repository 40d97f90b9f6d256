//! The wire: RFC 6455 and the bits of HTTP/1.1 it needs, as pure functions over byte slices.
//!
//! - [`handshake`]: reading the client's upgrade request and writing the 101 (RFC 6455 §4).
//! - [`http`]: the plain HTTP responses wsgate sends when it refuses a request.
//! - [`frame`]: frame headers, masking (RFC 6455 §5).
//! - [`close`]: close codes and close payloads (RFC 6455 §7).
//! - `sha1`: the SHA-1 of `Sec-WebSocket-Accept` (crate-private, sized for one hash per
//!   handshake).
//! - [`utf8`]: incremental UTF-8 validation for text messages (RFC 6455 §8.1).
//!
//! Nothing here allocates, keeps state between calls (except [`utf8::Utf8Validator`]), reads
//! a clock or touches a socket.

pub mod base64;
pub mod close;
pub mod frame;
pub mod handshake;
pub mod http;
mod sha1;
pub mod utf8;
