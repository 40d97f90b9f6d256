//! Transports: the thin layers that own sockets and clocks and drive the sans-IO
//! [`crate::Server`] through the [`crate::session`] loop.
//!
//! - `tokio` (feature `tokio`): hosts and tests.
//! - embassy-net (feature `embassy`): microcontrollers (to come).

#[cfg(feature = "tokio")]
pub mod tokio;
