//! CAR v1 streams (the IPLD "content addressable archive"), as Kubo's
//! `dag/export` writes them and `dag/import` reads them: a varint-prefixed
//! header, then varint-prefixed sections of CID and block bytes. Only what
//! a reader and writer of raw blocks needs; the bytes read are not trusted
//! here, callers re-hash every block.

use std::{collections::HashMap, io::Cursor};

use bytes::Bytes;

use super::Cid;

/// An unsigned LEB128 varint at `pos`, advancing it.
fn varint(buf: &[u8], pos: &mut usize) -> Option<u64> {
    let mut value = 0u64;
    for shift in (0..64).step_by(7) {
        let byte = *buf.get(*pos)?;
        *pos += 1;
        value |= u64::from(byte & 0x7f) << shift;
        if byte & 0x80 == 0 {
            return Some(value);
        }
    }
    None
}

/// Appends `value` as an unsigned LEB128 varint.
fn push_varint(out: &mut Vec<u8>, mut value: u64) {
    loop {
        let byte = (value & 0x7f) as u8;
        value >>= 7;
        out.push(if value == 0 { byte } else { byte | 0x80 });
        if value == 0 {
            return;
        }
    }
}

/// A CAR v1 stream of `blocks` (each with its CID), rooted at the first.
///
/// The header is the dag-cbor map `{"roots": [root], "version": 1}`. Its
/// shape never changes, so it is written byte by byte (keys in dag-cbor's
/// length-first order; a CID is tag 42 on its bytes behind a 0x00 prefix)
/// rather than through a CBOR library for one fixed map.
///
/// # Panics
/// If `blocks` is empty: a CAR names at least one root.
pub(crate) fn write<'a>(blocks: impl IntoIterator<Item = (&'a Cid, &'a [u8])>) -> Vec<u8> {
    let mut blocks = blocks.into_iter().peekable();
    let root = blocks
        .peek()
        .expect("a CAR has at least one block")
        .0
        .to_bytes();
    let mut header = vec![0xa2, 0x65];
    header.extend_from_slice(b"roots");
    header.extend_from_slice(&[0x81, 0xd8, 0x2a]);
    let link_len = u8::try_from(root.len() + 1).expect("a CIDv1 of sha2-256 is short");
    header.extend_from_slice(&[0x58, link_len, 0x00]);
    header.extend_from_slice(&root);
    header.push(0x67);
    header.extend_from_slice(b"version");
    header.push(0x01);
    let mut out = Vec::new();
    push_varint(&mut out, header.len() as u64);
    out.extend_from_slice(&header);
    for (cid, data) in blocks {
        let cid = cid.to_bytes();
        push_varint(&mut out, (cid.len() + data.len()) as u64);
        out.extend_from_slice(&cid);
        out.extend_from_slice(data);
    }
    out
}

/// The blocks of a CAR stream by CID. A truncated or malformed tail (Kubo
/// stops an export at the first block it lacks) ends the reading; what came
/// before is kept.
pub(crate) fn blocks(car: &Bytes) -> HashMap<Cid, Bytes> {
    let mut found = HashMap::new();
    let mut pos = 0;
    let Some(header) = varint(car, &mut pos) else {
        return found;
    };
    pos += header as usize;
    while pos < car.len() {
        let Some(len) = varint(car, &mut pos) else {
            break;
        };
        let Some(end) = pos.checked_add(len as usize).filter(|e| *e <= car.len()) else {
            break;
        };
        let mut cursor = Cursor::new(&car[pos..end]);
        let Ok(cid) = Cid::read_bytes(&mut cursor) else {
            break;
        };
        let data_start = pos + cursor.position() as usize;
        found.insert(cid, car.slice(data_start..end));
        pos = end;
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::cid::cid_for_block;

    fn section(out: &mut Vec<u8>, cid: &Cid, data: &[u8]) {
        let cid = cid.to_bytes();
        push_varint(out, (cid.len() + data.len()) as u64);
        out.extend_from_slice(&cid);
        out.extend_from_slice(data);
    }

    #[test]
    fn writes_what_it_reads() {
        let data: Vec<Vec<u8>> = vec![b"one".to_vec(), vec![9u8; 70_000], Vec::new()];
        let cids: Vec<Cid> = data.iter().map(|d| cid_for_block(d)).collect();
        let car = Bytes::from(write(cids.iter().zip(data.iter().map(Vec::as_slice))));
        let read = blocks(&car);
        assert_eq!(read.len(), 3);
        for (cid, d) in cids.iter().zip(&data) {
            assert_eq!(read[cid], d.as_slice());
        }
        // The header: {"roots": [the first CID], "version": 1} in dag-cbor.
        let mut pos = 0;
        let len = varint(&car, &mut pos).unwrap() as usize;
        let header = &car[pos..pos + len];
        assert_eq!(
            &header[..8],
            &[0xa2, 0x65, b'r', b'o', b'o', b't', b's', 0x81]
        );
        assert!(header.ends_with(&[0x67, b'v', b'e', b'r', b's', b'i', b'o', b'n', 0x01]));
        let root = cids[0].to_bytes();
        assert_eq!(
            &header[8..13],
            &[0xd8, 0x2a, 0x58, root.len() as u8 + 1, 0x00]
        );
        assert_eq!(&header[13..13 + root.len()], root.as_slice());
    }

    #[test]
    fn reads_sections_and_keeps_what_precedes_a_truncation() {
        let (a, b) = (b"first block".as_slice(), vec![7u8; 300]);
        let mut car = vec![3, 0xa0, 0x00, 0x00]; // a 3-byte header, skipped
        section(&mut car, &cid_for_block(a), a);
        section(&mut car, &cid_for_block(&b), &b);
        let whole = blocks(&Bytes::from(car.clone()));
        assert_eq!(whole.len(), 2);
        assert_eq!(whole[&cid_for_block(a)], a);
        assert_eq!(whole[&cid_for_block(&b)], b);
        car.truncate(car.len() - 10);
        let cut = blocks(&Bytes::from(car));
        assert_eq!(cut.len(), 1, "the truncated section is dropped");
        assert!(blocks(&Bytes::from_static(b"")).is_empty());
        assert!(blocks(&Bytes::from_static(&[0xff])).is_empty());
    }
}
