//! Transports: the thin layers that own sockets, clocks and tasks and drive the sans-IO
//! [`crate::Server`] through its public API (accept, feed, poll, output, release). The core
//! knows no transport: no transport feature appears in it, and each transport's async code,
//! and the dependencies it needs, live here behind that transport's feature.
//!
//! - `tokio` (feature `tokio`): hosts and tests. One driver task steps every ready client
//!   from a slot table.
//! - `embassy` (feature `embassy`): embassy-net, for microcontrollers. One task per slot runs
//!   the async session loop (`embassy::session`, over `embedded_io_async`).
//!
//! Both run the same gateways and handlers, as does the C ABI (`ffi`), where C owns the
//! sockets and feeds the server bytes. A transport never parses, frames or dispatches: the
//! server does.

#[cfg(feature = "embassy")]
pub mod embassy;
#[cfg(feature = "tokio")]
pub mod tokio;
