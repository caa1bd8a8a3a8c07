//! Delivering one signed post through gateways without ever reporting a
//! false failure (docs/RELIABILITY.md, "Sends that never fail falsely").
//!
//! A post's id is its EIP-712 signing hash, known before anything is sent.
//! So when an answer is lost (the gateway was killed after it stored the
//! post, its database went away after the batch was sealed) the client
//! does not guess: it asks the gateways for that id, and it sends the same
//! signed post again, never a new nonce, until the post is settled.
//!
//! A delivery ends in one of five ways:
//! - it reached the state asked for ([`Delivered`]);
//! - a gateway refused the post and none holds it ([`DeliveryError::Refused`]):
//!   it will never be anchored, and sending it again would be refused too;
//! - it could not be handed over for a reason retrying will not mend, such
//!   as an untrusted TLS certificate ([`DeliveryError::Unsent`]);
//! - its deadline passed unanchored ([`DeliveryError::Expired`]);
//! - the time the caller gave ran out first ([`DeliveryError::Undecided`]):
//!   the post may still be anchored until its deadline, so this is not a
//!   failure, and a new post with the same text could be a duplicate.

use std::time::{Duration, Instant};

use alloy::primitives::B256;

use super::{
    client::{ClientError, GatewayClient},
    PostRequest, Proof, ProofStatus,
};

/// How far a delivery goes before it returns.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Until {
    /// A gateway holds the post durably (it answered 202, or it knows the id).
    Accepted,
    /// The batch holding the post is anchored with the gateway's confirmations.
    Anchored,
}

/// What a delivery reached.
#[derive(Debug, Clone)]
pub enum Delivered {
    /// A gateway holds the post; it is on its way to an anchor.
    Accepted,
    /// Anchored, with the gateway's proof (check it with
    /// [`super::client::verify_proof`]).
    Anchored(Box<Proof>),
}

/// Why a delivery ended without reaching what was asked.
#[derive(Debug, thiserror::Error)]
pub enum DeliveryError {
    /// Refused, and no gateway holds it: it will never be anchored.
    #[error("the gateway refused post {id} ({status} {code}): {message}")]
    Refused {
        /// The post id.
        id: B256,
        /// HTTP status.
        status: u16,
        /// Stable error code.
        code: String,
        /// What the gateway said.
        message: String,
    },
    /// The post could not be handed over at all, for a reason sending again
    /// will not mend (a TLS certificate this machine does not trust).
    #[error("post {id} was not sent: {reason}")]
    Unsent {
        /// The post id.
        id: B256,
        /// Why.
        reason: String,
    },
    /// Its deadline passed before it was anchored: it never will be.
    #[error("post {id} expired unanchored at its deadline ({deadline}); nothing was delivered")]
    Expired {
        /// The post id.
        id: B256,
        /// Its deadline, unix seconds.
        deadline: u64,
    },
    /// Not settled within the time given. Not a failure: the post may still
    /// be anchored until its deadline.
    #[error(
        "post {id} is not settled after {waited_secs} s ({last}); it may still be anchored \
         until its deadline ({deadline}): send this same signed post again, never a new one"
    )]
    Undecided {
        /// The post id.
        id: B256,
        /// Whether a gateway was known to hold it.
        accepted: bool,
        /// The last thing learned, in words.
        last: String,
        /// Seconds waited.
        waited_secs: u64,
        /// Its deadline, unix seconds.
        deadline: u64,
    },
}

/// A step of a delivery, for progress.
#[derive(Debug, Clone)]
pub enum Step {
    /// Handing the post to a gateway.
    Submitting {
        /// The gateway.
        gateway: String,
        /// 1 for the first attempt.
        attempt: u32,
    },
    /// Where the post stands, by a gateway's word.
    Status(ProofStatus),
    /// No gateway could say; asking again after `after`.
    Waiting {
        /// Why, in words.
        reason: String,
        /// The pause before the next try.
        after: Duration,
    },
}

/// One signed post on its way through `gateways` (any gateway of one
/// outbox: each takes the same signed post twice as once).
#[derive(Debug, Clone)]
pub struct Delivery {
    gateways: Vec<GatewayClient>,
    request: PostRequest,
    id: B256,
}

/// The pauses between attempts: from a quarter second, doubling, to 5 s.
const FIRST_PAUSE: Duration = Duration::from_millis(250);
const LONGEST_PAUSE: Duration = Duration::from_secs(5);
/// How often an accepted post's state is asked.
const POLL: Duration = Duration::from_millis(250);

impl Delivery {
    /// A delivery of `request`, whose id (its signing hash under the chain's
    /// domain) is `id`, through `gateways` (at least one).
    pub fn new(gateways: Vec<GatewayClient>, request: PostRequest, id: B256) -> Self {
        assert!(!gateways.is_empty(), "a delivery needs a gateway");
        Self {
            gateways,
            request,
            id,
        }
    }

    /// Delivers the post until `until`, for at most `limit`, calling
    /// `progress` at each step. Never reports a failure the post might not
    /// have met: see the module's doc.
    pub async fn run(
        &self,
        until: Until,
        limit: Duration,
        progress: &(dyn Fn(Step) + Sync),
    ) -> Result<Delivered, DeliveryError> {
        let started = Instant::now();
        let deadline = self.request.deadline;
        let mut accepted = false;
        let mut attempt = 0u32;
        let mut pause = FIRST_PAUSE;
        let mut next = 0usize;
        let mut last = String::from("not sent yet");
        loop {
            let gateway = &self.gateways[next % self.gateways.len()];
            if !accepted {
                attempt += 1;
                progress(Step::Submitting {
                    gateway: gateway.base_url().to_string(),
                    attempt,
                });
                match gateway.submit_once(&self.request).await {
                    Ok(_) => accepted = true,
                    Err(e) => match self.ask_all().await {
                        // The answer was lost, or the refusal is of a
                        // resubmission of a post a gateway already holds.
                        Some(proof) => {
                            accepted = true;
                            if let Some(done) = self.settle(&proof, until, progress)? {
                                return Ok(done);
                            }
                        }
                        None if !e.is_transient() => return Err(self.refused(e)),
                        None => last = e.to_string(),
                    },
                }
                if accepted && until == Until::Accepted {
                    return Ok(Delivered::Accepted);
                }
            }
            if accepted {
                match gateway.proof(self.id).await {
                    Ok(proof) => {
                        pause = FIRST_PAUSE;
                        last = format!("{:?}", proof.status).to_lowercase();
                        if let Some(done) = self.settle(&proof, until, progress)? {
                            return Ok(done);
                        }
                        if started.elapsed() >= limit {
                            return Err(self.undecided(accepted, last, started));
                        }
                        tokio::time::sleep(POLL).await;
                        continue;
                    }
                    // This gateway's outbox never had it (gateways of
                    // different outboxes): hand it over again.
                    Err(ClientError::Refused { status: 404, .. }) => {
                        accepted = false;
                        continue;
                    }
                    Err(e) => last = e.to_string(),
                }
            }
            if crate::messenger::unix_now() > deadline + 60 && !accepted {
                // Past its deadline no gateway takes it and no anchor may
                // hold it; a minute's grace covers clocks that disagree.
                return Err(DeliveryError::Expired {
                    id: self.id,
                    deadline,
                });
            }
            if started.elapsed() >= limit {
                return Err(self.undecided(accepted, last, started));
            }
            let after = pause.min(limit.saturating_sub(started.elapsed()));
            progress(Step::Waiting {
                reason: last.clone(),
                after,
            });
            tokio::time::sleep(after).await;
            pause = (pause * 2).min(LONGEST_PAUSE);
            next += 1;
        }
    }

    /// The first proof any gateway has for the post.
    async fn ask_all(&self) -> Option<Proof> {
        for gateway in &self.gateways {
            if let Ok(proof) = gateway.proof(self.id).await {
                return Some(proof);
            }
        }
        None
    }

    /// The delivery's end if `proof` settles it.
    fn settle(
        &self,
        proof: &Proof,
        until: Until,
        progress: &(dyn Fn(Step) + Sync),
    ) -> Result<Option<Delivered>, DeliveryError> {
        progress(Step::Status(proof.status));
        Ok(match (proof.status, until) {
            (ProofStatus::Expired, _) => {
                return Err(DeliveryError::Expired {
                    id: self.id,
                    deadline: self.request.deadline,
                })
            }
            (ProofStatus::Anchored, _) => Some(Delivered::Anchored(Box::new(proof.clone()))),
            (_, Until::Accepted) => Some(Delivered::Accepted),
            _ => None,
        })
    }

    fn refused(&self, e: ClientError) -> DeliveryError {
        match e {
            ClientError::Refused {
                status,
                code,
                message,
            } => DeliveryError::Refused {
                id: self.id,
                status,
                code,
                message,
            },
            other => DeliveryError::Unsent {
                id: self.id,
                reason: other.to_string(),
            },
        }
    }

    fn undecided(&self, accepted: bool, last: String, started: Instant) -> DeliveryError {
        DeliveryError::Undecided {
            id: self.id,
            accepted,
            last,
            waited_secs: started.elapsed().as_secs(),
            deadline: self.request.deadline,
        }
    }
}
