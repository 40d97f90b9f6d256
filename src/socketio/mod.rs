//! socket.io, the wire protocol of NestJS's `IoAdapter`: Engine.IO v4 and Socket.IO v5 over
//! WebSocket (`SOCKETIO.md` of the project has the protocols with the bytes captured from
//! socket.io 4.8.3 and NestJS 12).
//!
//! What this module owns so far: the two packet codecs, as pure functions over byte slices.
//!
//! - [`engine`]: Engine.IO v4 packets (`0` open … `6` noop) as one WebSocket frame each, the
//!   `open` handshake JSON, session ids, and engine.io's HTTP error answers.
//! - [`packet`]: Socket.IO v5 packets inside an Engine.IO `message`:
//!   `<type>[<attachments>-][<nsp>,][<ack id>][<JSON>]`, decoded in place and checked as
//!   strictly as socket.io-parser checks them, and written with the bounded writer.
//!
//! What it never does: allocate, panic on any input, read a clock or a random source (ids
//! are built from bytes the caller passes in), or touch a connection. The socket.io session
//! layer (namespaces, acks, rooms, heartbeats) is built on these codecs by the server.

pub mod engine;
pub mod packet;
