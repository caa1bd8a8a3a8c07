//! Reading CAR v1 streams (the IPLD "content addressable archive"), as Kubo's
//! `dag/export` writes them: a varint-prefixed header, then varint-prefixed
//! sections of CID and block bytes. Only what a reader of raw blocks needs;
//! the bytes are not trusted here, callers re-hash every block.

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
        let mut len = (cid.len() + data.len()) as u64;
        loop {
            let byte = (len & 0x7f) as u8;
            len >>= 7;
            out.push(if len == 0 { byte } else { byte | 0x80 });
            if len == 0 {
                break;
            }
        }
        out.extend_from_slice(&cid);
        out.extend_from_slice(data);
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
