//! Engine.IO v4 packets over WebSocket (filled in by the engine codec work).
