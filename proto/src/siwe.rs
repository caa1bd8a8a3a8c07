//! The EIP-4361 message: parsed strictly, and checked against what this
//! node expects (its domain, its chain, a nonce it issued, the time).
//! Pure: no I/O, so every rule is unit-tested here.

use alloy::primitives::Address;
use time::{format_description::well_known::Rfc3339, OffsetDateTime};

/// A parsed Sign-In with Ethereum message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SiweMessage {
    /// The site asking (`host[:port]`).
    pub domain: String,
    /// The signing account (EIP-55 checked when mixed case).
    pub address: Address,
    /// The human-readable statement, if any.
    pub statement: Option<String>,
    /// The URI of the resource, usually the page's origin.
    pub uri: String,
    /// The chain the account is on.
    pub chain_id: u64,
    /// The node's one-time nonce.
    pub nonce: String,
    /// When it was signed.
    pub issued_at: OffsetDateTime,
    /// When the sign-in stops being valid, if set.
    pub expiration_time: Option<OffsetDateTime>,
    /// Not valid before, if set.
    pub not_before: Option<OffsetDateTime>,
}

/// Why a message is refused; each maps to a stable API code.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SiweError {
    /// Not an EIP-4361 message.
    #[error("not a Sign-In with Ethereum message: {0}")]
    Malformed(String),
    /// Signed for another site.
    #[error("the message is for {got}, not {expected}")]
    WrongDomain {
        /// What this node is.
        expected: String,
        /// What the message says.
        got: String,
    },
    /// Signed for another chain.
    #[error("the message is for chain {got}, not {expected}")]
    WrongChain {
        /// This node's chain.
        expected: u64,
        /// What the message says.
        got: u64,
    },
    /// Expired, not yet valid, or issued in the future.
    #[error("the message is {0}")]
    OutOfTime(&'static str),
}

const PREAMBLE: &str = " wants you to sign in with your Ethereum account:";

impl SiweMessage {
    /// Parses the message as EIP-4361 lays it out, line by line.
    pub fn parse(text: &str) -> Result<Self, SiweError> {
        let bad = |why: &str| SiweError::Malformed(why.to_string());
        let mut lines = text.split('\n');
        let domain = lines
            .next()
            .and_then(|l| l.strip_suffix(PREAMBLE))
            .filter(|d| !d.is_empty() && !d.contains(char::is_whitespace))
            .ok_or_else(|| bad("the first line must be `<domain> wants you to sign in ...`"))?;
        let address = lines.next().ok_or_else(|| bad("no address line"))?;
        let address = parse_address(address)
            .ok_or_else(|| bad("the address is not a valid (EIP-55) address"))?;
        if lines.next() != Some("") {
            return Err(bad("a blank line must follow the address"));
        }
        let mut rest: Vec<&str> = lines.collect();
        let mut statement = None;
        if rest.first().is_some_and(|l| !l.starts_with("URI: ")) {
            statement = Some(rest.remove(0).to_string());
            if rest.first() != Some(&"") {
                return Err(bad("a blank line must follow the statement"));
            }
            rest.remove(0);
        }
        let mut fields = std::collections::HashMap::new();
        for line in rest {
            if line == "Resources:" || line.starts_with("- ") {
                continue;
            }
            let (key, value) = line
                .split_once(": ")
                .ok_or_else(|| bad(&format!("unexpected line {line:?}")))?;
            if fields.insert(key, value).is_some() {
                return Err(bad(&format!("{key} appears twice")));
            }
        }
        let field = |key: &str| {
            fields
                .get(key)
                .copied()
                .ok_or_else(|| bad(&format!("no {key}")))
        };
        let time = |key: &str| -> Result<Option<OffsetDateTime>, SiweError> {
            fields
                .get(key)
                .map(|v| {
                    OffsetDateTime::parse(v, &Rfc3339)
                        .map_err(|_| bad(&format!("{key} is not an RFC 3339 time")))
                })
                .transpose()
        };
        if field("Version")? != "1" {
            return Err(bad("only Version 1 is known"));
        }
        let nonce = field("Nonce")?;
        if nonce.len() < 8 || !nonce.chars().all(|c| c.is_ascii_alphanumeric()) {
            return Err(bad("the nonce must be at least 8 letters and digits"));
        }
        Ok(Self {
            domain: domain.to_string(),
            address,
            statement,
            uri: field("URI")?.to_string(),
            chain_id: field("Chain ID")?
                .parse()
                .map_err(|_| bad("Chain ID is not a number"))?,
            nonce: nonce.to_string(),
            issued_at: time("Issued At")?.ok_or_else(|| bad("no Issued At"))?,
            expiration_time: time("Expiration Time")?,
            not_before: time("Not Before")?,
        })
    }

    /// Checks the message is for `domain` on `chain_id`, and valid at `now`
    /// (allowing `skew` for clocks that disagree).
    pub fn check(
        &self,
        domain: &str,
        chain_id: Option<u64>,
        now: OffsetDateTime,
        skew: time::Duration,
    ) -> Result<(), SiweError> {
        if !self.domain.eq_ignore_ascii_case(domain) {
            return Err(SiweError::WrongDomain {
                expected: domain.to_string(),
                got: self.domain.clone(),
            });
        }
        let origin_ok = ["http://", "https://"].iter().any(|scheme| {
            self.uri.strip_prefix(scheme).is_some_and(|rest| {
                rest.split('/')
                    .next()
                    .is_some_and(|host| host.eq_ignore_ascii_case(domain))
            })
        });
        if !origin_ok {
            return Err(SiweError::WrongDomain {
                expected: domain.to_string(),
                got: self.uri.clone(),
            });
        }
        if let Some(expected) = chain_id.filter(|c| *c != self.chain_id) {
            return Err(SiweError::WrongChain {
                expected,
                got: self.chain_id,
            });
        }
        if self.issued_at > now + skew {
            return Err(SiweError::OutOfTime("issued in the future"));
        }
        if self.expiration_time.is_some_and(|t| t <= now) {
            return Err(SiweError::OutOfTime("expired"));
        }
        if self.not_before.is_some_and(|t| t > now + skew) {
            return Err(SiweError::OutOfTime("not valid yet"));
        }
        Ok(())
    }
}

impl std::fmt::Display for SiweMessage {
    /// The message as EIP-4361 lays it out (and as viem's `createSiweMessage`
    /// writes it): what a wallet signs.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let time = |t: &OffsetDateTime| t.format(&Rfc3339).map_err(|_| std::fmt::Error);
        write!(f, "{}{PREAMBLE}\n{}\n\n", self.domain, self.address)?;
        if let Some(statement) = &self.statement {
            write!(f, "{statement}\n\n")?;
        }
        write!(
            f,
            "URI: {}\nVersion: 1\nChain ID: {}\nNonce: {}\nIssued At: {}",
            self.uri,
            self.chain_id,
            self.nonce,
            time(&self.issued_at)?
        )?;
        if let Some(t) = &self.expiration_time {
            write!(f, "\nExpiration Time: {}", time(t)?)?;
        }
        if let Some(t) = &self.not_before {
            write!(f, "\nNot Before: {}", time(t)?)?;
        }
        Ok(())
    }
}

/// An address, all lower or upper case, or mixed case with a valid checksum.
fn parse_address(text: &str) -> Option<Address> {
    let hex = text.strip_prefix("0x")?;
    let mixed =
        hex.chars().any(|c| c.is_ascii_lowercase()) && hex.chars().any(|c| c.is_ascii_uppercase());
    if mixed {
        Address::parse_checksummed(text, None).ok()
    } else {
        text.parse().ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_written_message_parses_back_to_itself() {
        let now = OffsetDateTime::from_unix_timestamp(1_800_000_000).unwrap();
        let mut m = SiweMessage {
            domain: "127.0.0.1:8080".into(),
            address: ALICE.parse().unwrap(),
            statement: Some("Sign in to Cairn.".into()),
            uri: "http://127.0.0.1:8080".into(),
            chain_id: 31337,
            nonce: "abcdefgh12345678".into(),
            issued_at: now,
            expiration_time: Some(now + time::Duration::minutes(5)),
            not_before: None,
        };
        assert_eq!(SiweMessage::parse(&m.to_string()).unwrap(), m);
        m.statement = None;
        m.expiration_time = None;
        assert_eq!(SiweMessage::parse(&m.to_string()).unwrap(), m);
    }

    const ALICE: &str = "0x70997970C51812dc3A010C7d01b50e0d17dc79C8";

    fn message(domain: &str, uri: &str, extra: &str) -> String {
        format!(
            "{domain} wants you to sign in with your Ethereum account:\n{ALICE}\n\nSign in to Cairn.\n\n\
             URI: {uri}\nVersion: 1\nChain ID: 31337\nNonce: abcdefgh1234\n\
             Issued At: 2026-11-29T06:00:00Z{extra}"
        )
    }

    fn at(text: &str) -> OffsetDateTime {
        OffsetDateTime::parse(text, &Rfc3339).unwrap()
    }

    const SKEW: time::Duration = time::Duration::minutes(5);

    #[test]
    fn parses_what_viem_writes_and_checks_it() {
        let m = SiweMessage::parse(&message(
            "127.0.0.1:8080",
            "http://127.0.0.1:8080",
            "\nExpiration Time: 2026-11-29T07:00:00Z",
        ))
        .unwrap();
        assert_eq!(m.address.to_string(), ALICE);
        assert_eq!(m.statement.as_deref(), Some("Sign in to Cairn."));
        assert_eq!((m.chain_id, m.nonce.as_str()), (31337, "abcdefgh1234"));
        m.check(
            "127.0.0.1:8080",
            Some(31337),
            at("2026-11-29T06:10:00Z"),
            SKEW,
        )
        .unwrap();
    }

    #[test]
    fn refuses_another_site_chain_or_time() {
        let m = SiweMessage::parse(&message(
            "evil.example",
            "https://evil.example/login",
            "\nExpiration Time: 2026-11-29T07:00:00Z",
        ))
        .unwrap();
        let now = at("2026-11-29T06:10:00Z");
        assert!(matches!(
            m.check("127.0.0.1:8080", None, now, SKEW),
            Err(SiweError::WrongDomain { .. })
        ));
        // A domain that matches but a URI on another origin.
        let m = SiweMessage::parse(&message("dao.example", "https://evil.example", "")).unwrap();
        assert!(matches!(
            m.check("dao.example", None, now, SKEW),
            Err(SiweError::WrongDomain { .. })
        ));
        let m = SiweMessage::parse(&message(
            "dao.example",
            "https://dao.example/app",
            "\nExpiration Time: 2026-11-29T06:05:00Z",
        ))
        .unwrap();
        assert_eq!(
            m.check("dao.example", None, now, SKEW),
            Err(SiweError::OutOfTime("expired"))
        );
        assert!(matches!(
            m.check("dao.example", Some(1), at("2026-11-29T06:01:00Z"), SKEW),
            Err(SiweError::WrongChain {
                expected: 1,
                got: 31337
            })
        ));
        assert_eq!(
            m.check("dao.example", None, at("2026-11-29T05:00:00Z"), SKEW),
            Err(SiweError::OutOfTime("issued in the future"))
        );
    }

    #[test]
    fn refuses_malformed_messages() {
        let good = message("dao.example", "https://dao.example", "");
        for bad in [
            good.replace(" wants you to sign in", " would like you to sign in"),
            good.replace(ALICE, &ALICE.replace('C', "c").replacen('c', "C", 1)),
            good.replace("Version: 1", "Version: 2"),
            good.replace("Nonce: abcdefgh1234", "Nonce: short"),
            good.replace("Chain ID: 31337", "Chain ID: many"),
            good.replace("Issued At: 2026-11-29T06:00:00Z", "Issued At: yesterday"),
            format!("{good}\nNonce: again1234"),
            good.replace("\n\nSign in to Cairn.\n\n", "\nSign in to Cairn.\n"),
        ] {
            assert!(
                matches!(SiweMessage::parse(&bad), Err(SiweError::Malformed(_))),
                "accepted {bad:?}"
            );
        }
    }
}
