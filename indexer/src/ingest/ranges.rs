//! Block ranges for `eth_getLogs`, with no I/O.
//!
//! Providers cap how many blocks or logs one `eth_getLogs` may cover, and say
//! so in provider-specific words. A refused range is split in half and each
//! half tried on its own, down to a single block.
//!
//! The ingester caps the logs it takes in one fetch as well: everything a
//! fetch returns is held in memory and committed in one transaction, so the
//! cap bounds both, whatever the chain's density. [`next_span`] sizes the
//! next range from the density the last one showed.

use std::ops::{Range, RangeInclusive};

use alloy::rpc::types::Log;

/// Splits `range` in two halves, or `None` for a single block.
pub(super) fn split(
    range: &RangeInclusive<u64>,
) -> Option<(RangeInclusive<u64>, RangeInclusive<u64>)> {
    let (start, end) = (*range.start(), *range.end());
    if start >= end {
        return None;
    }
    let mid = start + (end - start) / 2;
    Some((start..=mid, mid + 1..=end))
}

/// Blocks the first backfill fetch spans: from there the span grows (at
/// most doubling) or shrinks with the density each fetch shows.
pub(super) const FIRST_SPAN: u64 = 16;

/// Blocks the next `eth_getLogs` should span, after a fetch of `blocks`
/// blocks returned `logs` logs: enough for about half of `cap` logs at that
/// density (the other half is headroom for denser blocks ahead), at most
/// twice `blocks`, between 1 and `max` blocks.
pub(super) fn next_span(blocks: u64, logs: usize, cap: usize, max: u64) -> u64 {
    let blocks = blocks.max(1);
    let doubled = blocks.saturating_mul(2);
    let span = if logs == 0 {
        doubled
    } else {
        let wanted = (cap / 2).max(1) as u128 * u128::from(blocks) / logs as u128;
        u64::try_from(wanted).unwrap_or(u64::MAX).min(doubled)
    };
    span.clamp(1, max.max(1))
}

/// Splits `logs` (in chain order) into runs of whole blocks of at most
/// `max` logs each; a block with more logs is a run of its own. Never
/// empty: no logs is one empty run.
pub(super) fn commit_chunks(logs: &[Log], max: usize) -> Vec<Range<usize>> {
    let mut chunks = Vec::new();
    let mut start = 0;
    let mut i = 0;
    while i < logs.len() {
        let block = logs[i].block_number;
        let end = i + logs[i..]
            .iter()
            .take_while(|l| l.block_number == block)
            .count();
        if end - start > max && i > start {
            chunks.push(start..i);
            start = i;
        }
        i = end;
    }
    chunks.push(start..logs.len());
    chunks
}

/// Whether an RPC error message means "this range is too large", as opposed
/// to a transport failure. Covers geth, Erigon, Alchemy, Infura and
/// QuickNode wordings, and the JSON-RPC "limit exceeded" code -32005.
pub(super) fn is_range_too_large(code: i64, message: &str) -> bool {
    let m = message.to_ascii_lowercase();
    code == -32005
        || [
            "query returned more than",
            "block range",
            "range too large",
            "too many",
            "exceed",
            "limit",
        ]
        .iter()
        .any(|needle| m.contains(needle))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_cover_the_range_exactly() {
        let (a, b) = split(&(10..=21)).unwrap();
        assert_eq!((a, b), (10..=15, 16..=21));
        let (a, b) = split(&(10..=11)).unwrap();
        assert_eq!((a, b), (10..=10, 11..=11));
        assert_eq!(split(&(5..=5)), None);
    }

    #[test]
    fn recursive_splitting_reaches_every_block_once() {
        let mut pending = vec![0..=999u64];
        let mut covered = Vec::new();
        while let Some(r) = pending.pop() {
            if r.end() - r.start() < 100 {
                covered.extend(r);
            } else {
                let (a, b) = split(&r).unwrap();
                pending.push(a);
                pending.push(b);
            }
        }
        covered.sort();
        assert_eq!(covered, (0..=999).collect::<Vec<_>>());
    }

    #[test]
    fn spans_follow_the_density_of_the_last_fetch() {
        // 2,000 logs per block and a cap of 10,000: about 5,000 per fetch.
        assert_eq!(next_span(2_000, 4_000_000, 10_000, 2_000), 2);
        assert_eq!(next_span(2, 4_000, 10_000, 2_000), 2);
        // Sparse blocks grow the span, at most doubling, never past the maximum.
        assert_eq!(next_span(100, 10, 10_000, 2_000), 200);
        assert_eq!(next_span(1_500, 10, 10_000, 2_000), 2_000);
        assert_eq!(next_span(10, 0, 10_000, 2_000), 20);
        assert_eq!(next_span(1_500, 0, 10_000, 2_000), 2_000);
        assert_eq!(next_span(100, 4_000, 10_000, 2_000), 125);
        // One block denser than the cap still makes progress.
        assert_eq!(next_span(1, 50_000, 10_000, 2_000), 1);
        assert_eq!(next_span(u64::MAX, 1, usize::MAX, u64::MAX), u64::MAX);
    }

    fn logs_in(blocks: &[u64]) -> Vec<Log> {
        blocks
            .iter()
            .map(|b| Log {
                block_number: Some(*b),
                ..Default::default()
            })
            .collect()
    }

    #[test]
    fn commit_chunks_hold_whole_blocks() {
        let logs = logs_in(&[1, 1, 2, 2, 2, 3, 4, 4]);
        assert_eq!(commit_chunks(&logs, 3), vec![0..2, 2..5, 5..8]);
        assert_eq!(commit_chunks(&logs, 5), vec![0..5, 5..8]);
        assert_eq!(commit_chunks(&logs, 100), vec![0..8]);
        // A block larger than the maximum is a chunk of its own.
        assert_eq!(commit_chunks(&logs, 1), vec![0..2, 2..5, 5..6, 6..8]);
        assert_eq!(commit_chunks(&[], 10), vec![0..0]);
    }

    #[test]
    fn recognises_provider_refusals() {
        assert!(is_range_too_large(
            -32602,
            "query returned more than 10000 results"
        ));
        assert!(is_range_too_large(
            -32000,
            "eth_getLogs block range too large, range: 5000, max: 2000"
        ));
        assert!(is_range_too_large(-32005, "anything"));
        assert!(!is_range_too_large(-32000, "header not found"));
    }
}
