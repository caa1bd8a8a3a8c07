//! Opaque pagination cursors, with no I/O.
//!
//! Clients must treat cursors as opaque; they are base64url text so the
//! encoding can change without breaking anyone who does.

use base64::{engine::general_purpose::URL_SAFE_NO_PAD, Engine};

/// A position in a chain-ordered list: after this (block, log index).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct ListCursor {
    /// Block number of the last item seen.
    pub block: u64,
    /// Log index of the last item seen.
    pub log_index: u64,
    /// Index within a batch of the last item seen, when it was a batched post.
    pub item: Option<u64>,
}

/// Where a page of a chain-ordered list starts, and which way it runs.
///
/// Oldest first suits a client that reads everything once (the CLI, a
/// poller); newest first suits a chat, which shows the latest messages at
/// once and loads older ones as the reader scrolls up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Seek {
    /// Oldest first, after the cursor (from the first item without one).
    After(Option<ListCursor>),
    /// Newest first, before the cursor (from the newest item without one).
    Before(Option<ListCursor>),
}

impl Seek {
    /// The cursor a page starts from, if any.
    pub fn cursor(&self) -> Option<ListCursor> {
        match *self {
            Seek::After(c) | Seek::Before(c) => c,
        }
    }
}

impl From<Option<ListCursor>> for Seek {
    fn from(after: Option<ListCursor>) -> Self {
        Seek::After(after)
    }
}

/// A position in the event stream: after this event sequence number.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct StreamCursor(pub u64);

/// A cursor that does not decode.
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
#[error("invalid cursor: pass back a cursor exactly as the API returned it")]
pub struct InvalidCursor;

fn decode(s: &str, prefix: &str) -> Result<Vec<u64>, InvalidCursor> {
    let raw = URL_SAFE_NO_PAD
        .decode(s.as_bytes())
        .map_err(|_| InvalidCursor)?;
    let text = String::from_utf8(raw).map_err(|_| InvalidCursor)?;
    let rest = text.strip_prefix(prefix).ok_or(InvalidCursor)?;
    rest.split(':').map(position).collect()
}

/// One number of a cursor or id: the database keeps positions as signed
/// 64-bit integers, so anything above `i64::MAX` is no position there is.
pub(crate) fn position(s: &str) -> Result<u64, InvalidCursor> {
    s.parse::<u64>()
        .ok()
        .filter(|n| i64::try_from(*n).is_ok())
        .ok_or(InvalidCursor)
}

impl ListCursor {
    /// The opaque form.
    pub fn encode(&self) -> String {
        match self.item {
            None => URL_SAFE_NO_PAD.encode(format!("l1:{}:{}", self.block, self.log_index)),
            Some(item) => {
                URL_SAFE_NO_PAD.encode(format!("l1:{}:{}:{item}", self.block, self.log_index))
            }
        }
    }

    /// Parses the opaque form.
    pub fn decode(s: &str) -> Result<Self, InvalidCursor> {
        match decode(s, "l1:")?.as_slice() {
            [block, log_index] => Ok(Self {
                block: *block,
                log_index: *log_index,
                item: None,
            }),
            [block, log_index, item] => Ok(Self {
                block: *block,
                log_index: *log_index,
                item: Some(*item),
            }),
            _ => Err(InvalidCursor),
        }
    }
}

impl StreamCursor {
    /// The opaque form.
    pub fn encode(&self) -> String {
        URL_SAFE_NO_PAD.encode(format!("s1:{}", self.0))
    }

    /// Parses the opaque form.
    pub fn decode(s: &str) -> Result<Self, InvalidCursor> {
        match decode(s, "s1:")?.as_slice() {
            [seq] => Ok(Self(*seq)),
            _ => Err(InvalidCursor),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refuses_numbers_the_database_cannot_hold() {
        let forged = |text: &str| URL_SAFE_NO_PAD.encode(text);
        assert!(ListCursor::decode(&forged("l1:18446744073709551615:0")).is_err());
        assert!(ListCursor::decode(&forged("l1:9223372036854775808:0")).is_err());
        assert!(ListCursor::decode(&forged("l1:9223372036854775807:0")).is_ok());
        assert!(StreamCursor::decode(&forged("s1:18446744073709551615")).is_err());
        assert!(StreamCursor::decode(&forged("s1:-1")).is_err());
    }

    #[test]
    fn round_trips() {
        let c = ListCursor {
            block: 123,
            log_index: 7,
            item: None,
        };
        assert_eq!(ListCursor::decode(&c.encode()), Ok(c));
        let batched = ListCursor {
            item: Some(4095),
            ..c
        };
        assert_eq!(ListCursor::decode(&batched.encode()), Ok(batched));
        assert_eq!(
            StreamCursor::decode(&StreamCursor(99).encode()),
            Ok(StreamCursor(99))
        );
    }

    #[test]
    fn rejects_garbage_and_the_other_kind() {
        assert_eq!(ListCursor::decode("!!!"), Err(InvalidCursor));
        assert_eq!(
            ListCursor::decode(&StreamCursor(1).encode()),
            Err(InvalidCursor)
        );
        assert_eq!(
            StreamCursor::decode(
                &ListCursor {
                    block: 1,
                    log_index: 2,
                    item: None,
                }
                .encode()
            ),
            Err(InvalidCursor)
        );
        assert_eq!(
            StreamCursor::decode(&URL_SAFE_NO_PAD.encode("s1:-1")),
            Err(InvalidCursor)
        );
        assert_eq!(
            StreamCursor::decode(&URL_SAFE_NO_PAD.encode("s1:1:2")),
            Err(InvalidCursor)
        );
    }
}
