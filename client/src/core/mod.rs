//! The client's sans-IO core: the rules of composing, opening and keeping
//! messages, with no file system, network, clock or OS randomness. The
//! driver (`client::Client`) reads the clock, draws random ids,
//! talks to the relay and the home, and hands this core the results.

pub mod case;
pub mod checkpoints;
pub mod clock;
pub mod compose;
pub mod conversations;
pub mod directory;
pub mod handover;
pub mod logged;
pub mod message;
pub mod open;
pub mod records;
pub mod request;
pub mod search;
pub mod spelling;
#[cfg(test)]
pub(crate) mod testing;
