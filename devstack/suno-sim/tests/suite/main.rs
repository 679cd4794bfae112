//! Black-box tests over real HTTP: every test serves its own simulator on 127.0.0.1:0 and
//! talks to it with reqwest, the way the product's client will.

mod callbacks;
mod common;
mod contract;
mod control;
mod faults;
mod lifecycle;
mod outcomes;
