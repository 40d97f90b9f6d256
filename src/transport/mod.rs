//! Transports: the thin layers that own sockets and clocks and drive the sans-IO
//! [`crate::Server`] through the [`crate::session`] loop.
//!
//! - `tokio` (feature `tokio`): hosts and tests.
//! - `embassy` (feature `embassy`): embassy-net, for microcontrollers.
//!
//! Both run the same gateways, handlers and session loop.

#[cfg(feature = "embassy")]
pub mod embassy;
#[cfg(feature = "tokio")]
pub mod tokio;
