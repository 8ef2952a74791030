//! Property tests of TCP reassembly: however a client's byte stream is cut
//! into segments, duplicated, reordered within the hold window, or resent with
//! identical bytes, the engine decodes exactly the PDUs of the unsegmented
//! stream, in order, and returns every held byte.

use proptest::prelude::*;
use s7sentry_engine::{Engine, EngineConfig, Event, Frame, Ts};

/// A TPKT/COTP/S7 Read Var job with PDU reference `r` (S7 header + 14-byte parameter).
fn job(r: u16) -> Vec<u8> {
    let mut s7 = vec![0x32, 0x01, 0, 0, (r >> 8) as u8, r as u8, 0, 14, 0, 0];
    s7.extend_from_slice(&[0x04, 0x01, 0x12, 0x0a, 0x10, 0x02, 0x00, 0x02, 0x00, 0x01, 0x84, 0x00, 0x00, 0x00]);
    let mut v = vec![0x03, 0x00, 0, 0, 0x02, 0xf0, 0x80];
    v.extend_from_slice(&s7);
    let n = v.len() as u16;
    v[2..4].copy_from_slice(&n.to_be_bytes());
    v
}

/// Raw-IPv4 TCP segment client 10.0.0.1:40000 -> 10.0.0.2:102.
fn segment(seq: u32, flags: u8, payload: &[u8]) -> Vec<u8> {
    let total = 40 + payload.len();
    let mut f = vec![0x45, 0, (total >> 8) as u8, total as u8, 0, 1, 0x40, 0, 64, 6, 0, 0, 10, 0, 0, 1, 10, 0, 0, 2];
    let mut t = vec![0u8; 20];
    t[0..2].copy_from_slice(&40000u16.to_be_bytes());
    t[2..4].copy_from_slice(&102u16.to_be_bytes());
    t[4..8].copy_from_slice(&seq.to_be_bytes());
    t[12] = 5 << 4;
    t[13] = flags;
    f.extend_from_slice(&t);
    f.extend_from_slice(payload);
    f
}

fn decode(frames: &[Vec<u8>]) -> (Vec<u16>, usize, u64) {
    let mut e = Engine::new(EngineConfig::default());
    let mut refs = Vec::new();
    let mut findings = 0u64;
    let mut sink = |ev: &Event<'_>| match ev {
        Event::S7 { pdu, .. } => refs.push(pdu.header.pdu_ref),
        Event::Finding { .. } => findings += 1,
        _ => {}
    };
    for (i, f) in frames.iter().enumerate() {
        e.process(&Frame { frame: i as u64 + 1, ts: Ts::new(1, i as u32), linktype: 101, data: f }, &mut sink);
    }
    e.finish(&mut sink);
    (refs, e.buffered_bytes(), findings)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, .. ProptestConfig::default() })]

    #[test]
    fn any_segmentation_reordering_and_duplication_decodes_the_same(
        n in 1usize..12,
        cuts in proptest::collection::vec(1usize..40, 1..60),
        swaps in proptest::collection::vec((0usize..64, 0usize..4), 0..8),
        dups in proptest::collection::vec(0usize..64, 0..6),
    ) {
        let isn = 1000u32;
        let stream: Vec<u8> = (0..n).flat_map(|k| job(k as u16 + 1)).collect();
        // Cut the stream into segments of the chosen sizes.
        let mut segs: Vec<(u32, Vec<u8>)> = Vec::new();
        let (mut at, mut c) = (0usize, 0usize);
        while at < stream.len() {
            let len = cuts[c % cuts.len()].min(stream.len() - at);
            segs.push((isn + 1 + at as u32, stream[at..at + len].to_vec()));
            at += len;
            c += 1;
        }
        // Identical retransmissions.
        for d in &dups {
            if let Some(s) = segs.get(d % segs.len()).cloned() {
                let pos = (d % segs.len()) + 1;
                segs.insert(pos.min(segs.len()), s);
            }
        }
        // Local reordering (within a few segments: inside the hold window).
        for (i, k) in &swaps {
            let i = i % segs.len();
            let j = (i + k).min(segs.len() - 1);
            segs.swap(i, j);
        }
        let mut frames = vec![segment(isn, 0x02, &[])];
        frames.extend(segs.iter().map(|(s, p)| segment(*s, 0x18, p)));
        let (refs, held, findings) = decode(&frames);
        let want: Vec<u16> = (1..=n as u16).collect();
        prop_assert_eq!(refs, want);
        prop_assert_eq!(held, 0);
        prop_assert_eq!(findings, 0);
    }

    #[test]
    fn a_lost_segment_costs_at_most_the_pdus_it_touched(
        n in 3usize..12,
        size in 5usize..30,
        lost in 1usize..100,
    ) {
        let isn = 7u32;
        let stream: Vec<u8> = (0..n).flat_map(|k| job(k as u16 + 1)).collect();
        let segs: Vec<(u32, Vec<u8>)> = stream.chunks(size).enumerate().map(|(i, c)| (isn + 1 + (i * size) as u32, c.to_vec())).collect();
        let lost = lost % segs.len();
        let mut frames = vec![segment(isn, 0x02, &[])];
        frames.extend(segs.iter().enumerate().filter(|(i, _)| *i != lost).map(|(_, (s, p))| segment(*s, 0x18, p)));
        let (refs, held, _) = decode(&frames);
        let pdu_len = job(1).len();
        // PDUs wholly after the lost bytes (plus one for resynchronisation) must be decoded.
        let lost_end = (lost + 1) * size;
        let first_clean = lost_end.div_ceil(pdu_len) + 1;
        for r in (first_clean as u16 + 1)..=(n as u16) {
            prop_assert!(refs.contains(&r), "PDU {} after the gap not decoded: {:?}", r, refs);
        }
        // Nothing decoded twice, nothing invented.
        let mut sorted = refs.clone();
        sorted.dedup();
        prop_assert_eq!(sorted.len(), refs.len());
        prop_assert!(refs.iter().all(|r| (1..=n as u16).contains(r)));
        prop_assert_eq!(held, 0);
    }

    /// First copy wins: decoys (other bytes at an original's range) that arrive
    /// after the original, wherever it is (delivered or held), never change
    /// what is decoded, and each one is reported.
    #[test]
    fn later_copies_with_other_bytes_never_win(
        n in 2usize..8,
        size in 3usize..25,
        decoys in proptest::collection::vec((0usize..64, 1usize..4), 1..5),
        swaps in proptest::collection::vec((0usize..64, 0usize..4), 0..6),
    ) {
        let isn = 0xFFFF_FF00u32; // the stream wraps the sequence space
        let stream: Vec<u8> = (0..n).flat_map(|k| job(k as u16 + 1)).collect();
        let mut segs: Vec<(u32, Vec<u8>)> = stream
            .chunks(size)
            .enumerate()
            .map(|(i, c)| (isn.wrapping_add(1 + (i * size) as u32), c.to_vec()))
            .collect();
        for (i, k) in &swaps {
            let i = i % segs.len();
            let j = (i + k).min(segs.len() - 1);
            segs.swap(i, j);
        }
        // Each decoy goes right after its original (so after it in arrival order).
        let mut out: Vec<(u32, Vec<u8>)> = Vec::new();
        let mut want_conflicts = 0u64;
        for (i, s) in segs.iter().enumerate() {
            out.push(s.clone());
            for (d, after) in &decoys {
                // (A 1-byte copy just below the next byte is a keep-alive probe: not data.)
                if d % segs.len() == i && s.1.len() > 1 {
                    let bad: Vec<u8> = s.1.iter().map(|b| b ^ 0xA5).collect();
                    let at = (out.len() + after - 1).min(out.len());
                    out.insert(at, (s.0, bad));
                    want_conflicts += 1;
                }
            }
        }
        let mut frames = vec![segment(isn, 0x02, &[])];
        frames.extend(out.iter().map(|(s, p)| segment(*s, 0x18, p)));
        let (refs, held, findings) = decode(&frames);
        let want: Vec<u16> = (1..=n as u16).collect();
        prop_assert_eq!(refs, want);
        prop_assert_eq!(held, 0);
        prop_assert!(findings >= want_conflicts.min(1), "no overlap finding for {} decoys", want_conflicts);
    }

    /// Hostile segments anywhere in the sequence space (far, wrapped, half the
    /// space away), with any flags: no panic, every held byte returned, and
    /// the engine always makes progress (a loop that did not would hang here).
    #[test]
    fn any_sequence_numbers_and_flags_terminate_and_release_everything(
        segs in proptest::collection::vec((any::<u32>(), 0usize..80, any::<u8>(), 0u8..4), 1..80),
    ) {
        let isn = 5u32;
        let mut frames = vec![segment(isn, 0x02, &[])];
        for (off, len, flags, kind) in &segs {
            let seq = match kind {
                0 => isn.wrapping_add(1).wrapping_add(off % 4096),
                1 => isn.wrapping_add(0x8000_0000).wrapping_add(off % 16),
                2 => isn.wrapping_sub(off % 4096),
                _ => *off,
            };
            let payload: Vec<u8> = (0..*len).map(|k| (k as u8).wrapping_mul(*flags | 1)).collect();
            frames.push(segment(seq, *flags, &payload));
        }
        let (_, held, _) = decode(&frames);
        prop_assert_eq!(held, 0);
    }
}
