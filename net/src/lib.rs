//! `liaison-net`: the pinned QUIC link to a Liaison relay.
//!
//! Every role that talks to a relay (a focal point's client, a country
//! authority, an auditor, a witness) goes through [`Link`]: TLS 1.3 pinned to
//! the relay certificate named in the enrolment bundle, ALPN `liaison/1`, one
//! bidirectional stream per request, length-prefixed frames. A call returns
//! a [`Response`](liaison_protocol::frames::Response) or a typed
//! [`LinkError`]; the typed helpers in [`calls`] also check that the relay
//! answered with the variant the request asks for.
//!
//! Non-features: this crate verifies nothing the relay says beyond the TLS
//! pin and the frame encoding. Checkpoints, proofs and directory records are
//! verified by the caller against the bundle (see `liaison-protocol`).

mod calls;
pub mod clock;
mod link;
mod proofs;
mod tls;
pub mod tool;

pub use calls::{Directory, MessageEvents};
pub use link::{DEFAULT_REQUEST_TIMEOUT, Link, LinkError, MAX_RESPONSE, Subscription, resolve};
pub use proofs::{EventProofError, event_proofs};
pub use tls::{Pins, client_tls_config};
