//! Suno API simulator.
