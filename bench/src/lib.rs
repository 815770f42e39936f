//! What the benchmarks of this crate share. Each benchmark is a binary of
//! its own (`src/main.rs`, `src/bin/`); this library holds only their
//! common setup.

pub mod devnet;
