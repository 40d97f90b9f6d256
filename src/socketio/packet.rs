//! Socket.IO v5 packets (filled in by the packet codec work).
