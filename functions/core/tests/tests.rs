//! Integration tests of `music-core`, through its public API only.

// Every signal of the provider reference mapped to its class, action and code.
mod classification;
// A request's life from body to clips, as the edge functions will drive it.
mod flow;
// Invariants over arbitrary input: no panics, bounded waits, limits always respected.
mod properties;
