//! Helpers shared by the end-to-end and SQL tests.
//!
//! The tests never start the stack themselves: `scripts/test` brings one up
//! and exports its coordinates (the same `KEY=value` lines `scripts/dev env`
//! prints). [`StackEnv`] reads them, so a test reads like a script against
//! whatever stack it was pointed at.

pub mod faults;
pub mod functions;
pub mod hold;
pub mod listener;
pub mod outage;
pub mod sql;
pub mod stack;
pub mod stage;
pub mod suno;

pub use stack::StackEnv;
