//! The plaintext inside an envelope.
//!
//! ```text
//! kind u8 | text_len u32 | text (UTF-8) | attachment_count u8 |
//!   per attachment: name_len u16 | name (UTF-8) | data_len u32 | data
//! ```
//! All integers are big-endian. Trailing bytes are an error, so one body has
//! exactly one encoding.

use super::EnvelopeError;

/// What a message does. Edits, deletions and reactions refer to their target
/// through the header's reply-to digest.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum BodyKind {
    /// An ordinary message.
    Message = 0,
    /// Replaces the text of the reply-to message.
    Edit = 1,
    /// Asks readers to hide the reply-to message.
    Delete = 2,
    /// A reaction (the text, e.g. an emoji) to the reply-to message.
    Reaction = 3,
}

impl TryFrom<u8> for BodyKind {
    type Error = EnvelopeError;

    fn try_from(value: u8) -> Result<Self, Self::Error> {
        Ok(match value {
            0 => Self::Message,
            1 => Self::Edit,
            2 => Self::Delete,
            3 => Self::Reaction,
            _ => return Err(EnvelopeError::InvalidBody("unknown body kind")),
        })
    }
}

/// A small file carried inside the envelope itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attachment {
    /// The file name the sender gave.
    pub name: String,
    /// The file contents.
    pub data: Vec<u8>,
}

/// The decrypted content of a message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Body {
    /// What the message does.
    pub kind: BodyKind,
    /// The message text.
    pub text: String,
    /// Inline attachments.
    pub attachments: Vec<Attachment>,
}

impl Body {
    /// A plain text message.
    pub fn text(text: impl Into<String>) -> Self {
        Self {
            kind: BodyKind::Message,
            text: text.into(),
            attachments: Vec::new(),
        }
    }

    pub(crate) fn encode(&self) -> Result<Vec<u8>, EnvelopeError> {
        let too_large = EnvelopeError::InvalidBody("a field exceeds its length prefix");
        let mut out = Vec::with_capacity(
            6 + self.text.len()
                + self
                    .attachments
                    .iter()
                    .map(|a| 6 + a.name.len() + a.data.len())
                    .sum::<usize>(),
        );
        out.push(self.kind as u8);
        out.extend_from_slice(
            &u32::try_from(self.text.len())
                .map_err(|_| too_large.clone())?
                .to_be_bytes(),
        );
        out.extend_from_slice(self.text.as_bytes());
        out.push(u8::try_from(self.attachments.len()).map_err(|_| too_large.clone())?);
        for a in &self.attachments {
            out.extend_from_slice(
                &u16::try_from(a.name.len())
                    .map_err(|_| too_large.clone())?
                    .to_be_bytes(),
            );
            out.extend_from_slice(a.name.as_bytes());
            out.extend_from_slice(
                &u32::try_from(a.data.len())
                    .map_err(|_| too_large.clone())?
                    .to_be_bytes(),
            );
            out.extend_from_slice(&a.data);
        }
        Ok(out)
    }

    pub(crate) fn decode(mut bytes: &[u8]) -> Result<Self, EnvelopeError> {
        let kind = BodyKind::try_from(take(&mut bytes, 1)?[0])?;
        let text_len = u32::from_be_bytes(take(&mut bytes, 4)?.try_into().expect("4 bytes"));
        let text = utf8(take(&mut bytes, text_len as usize)?)?;
        let count = take(&mut bytes, 1)?[0];
        let mut attachments = Vec::with_capacity(count as usize);
        for _ in 0..count {
            let name_len = u16::from_be_bytes(take(&mut bytes, 2)?.try_into().expect("2 bytes"));
            let name = utf8(take(&mut bytes, name_len as usize)?)?;
            let data_len = u32::from_be_bytes(take(&mut bytes, 4)?.try_into().expect("4 bytes"));
            let data = take(&mut bytes, data_len as usize)?.to_vec();
            attachments.push(Attachment { name, data });
        }
        if !bytes.is_empty() {
            return Err(EnvelopeError::InvalidBody("trailing bytes after the body"));
        }
        Ok(Self {
            kind,
            text,
            attachments,
        })
    }
}

fn take<'a>(bytes: &mut &'a [u8], n: usize) -> Result<&'a [u8], EnvelopeError> {
    if bytes.len() < n {
        return Err(EnvelopeError::InvalidBody("truncated"));
    }
    let (head, tail) = bytes.split_at(n);
    *bytes = tail;
    Ok(head)
}

fn utf8(bytes: &[u8]) -> Result<String, EnvelopeError> {
    String::from_utf8(bytes.to_vec()).map_err(|_| EnvelopeError::InvalidBody("text is not UTF-8"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_with_attachments() {
        let body = Body {
            kind: BodyKind::Reaction,
            text: "👍 ok".into(),
            attachments: vec![Attachment {
                name: "a.txt".into(),
                data: vec![0, 1, 2],
            }],
        };
        assert_eq!(Body::decode(&body.encode().unwrap()).unwrap(), body);
    }

    #[test]
    fn rejects_trailing_truncated_and_non_utf8() {
        let mut bytes = Body::text("hi").encode().unwrap();
        bytes.push(0);
        assert_eq!(
            Body::decode(&bytes),
            Err(EnvelopeError::InvalidBody("trailing bytes after the body"))
        );
        let bytes = Body::text("hi").encode().unwrap();
        assert_eq!(
            Body::decode(&bytes[..4]),
            Err(EnvelopeError::InvalidBody("truncated"))
        );
        let mut bytes = Body::text("hi").encode().unwrap();
        bytes[5] = 0xff;
        assert_eq!(
            Body::decode(&bytes),
            Err(EnvelopeError::InvalidBody("text is not UTF-8"))
        );
        assert_eq!(
            Body::decode(&[9, 0, 0, 0, 0, 0]),
            Err(EnvelopeError::InvalidBody("unknown body kind"))
        );
    }
}
