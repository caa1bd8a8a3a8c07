//! Talking to a relaying gateway.
//!
//! - [`client`]: a gateway client, and [`client::verify_proof`], which
//!   checks a proof against the chain without trusting the gateway.
//! - [`delivery`]: one signed post delivered through gateways, asked for by
//!   its id on any doubt, so that a send never reports a false failure.
//!
//! The JSON they exchange is [`cairn_proto::gateway`].

pub mod client;
pub mod delivery;

pub use cairn_proto::gateway::{
    Accepted, PostRequest, Proof, ProofStatus, Registered, RegistrationRequest, RevocationRequest,
    SignerChanged, SignerRequest, Submission,
};
