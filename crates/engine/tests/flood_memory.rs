//! Issue 10: a flood does not grow the engine's memory. A thousand
//! connections each send out-of-order segments that are never completed (a
//! hole at the first byte, so every segment is held), round-robin so that all
//! of them hold data at once, then a SYN flood from thousands of ports. The
//! engine's buffered bytes stay within `max_total_buffered` and its flows
//! within `max_flows` after every frame, every cap hit is counted, and nothing
//! is held after `finish()`. (Peak RSS of `s7sentry replay` on such captures
//! is in the commit that added this test; the capture as a file:
//! `s7sentry-pcapgen big --kind ooo-flood --flows N --segments N --size BYTES`.)

use s7sentry_engine::{Engine, EngineConfig, Event, Frame, Ts};

/// Raw-IPv4 TCP segment 10.(i)->10.0.0.2:102 (checksum left zero: learnt as offload).
fn segment(client: u32, sport: u16, seq: u32, ack: u32, flags: u8, payload: &[u8]) -> Vec<u8> {
    let total = 40 + payload.len();
    let c = (0x0a00_0000 | (client & 0x00FF_FFFF)).to_be_bytes();
    let mut f = vec![0x45, 0, (total >> 8) as u8, total as u8, 0, 1, 0x40, 0, 64, 6, 0, 0];
    f.extend_from_slice(&c);
    f.extend_from_slice(&[10, 0, 0, 2]);
    let mut t = vec![0u8; 20];
    t[0..2].copy_from_slice(&sport.to_be_bytes());
    t[2..4].copy_from_slice(&102u16.to_be_bytes());
    t[4..8].copy_from_slice(&seq.to_be_bytes());
    t[8..12].copy_from_slice(&ack.to_be_bytes());
    t[12] = 5 << 4;
    t[13] = flags;
    t[14..16].copy_from_slice(&64_240u16.to_be_bytes());
    f.extend_from_slice(&t);
    f.extend_from_slice(payload);
    f
}

/// SYN-ACK from the PLC to client `client`.
fn syn_ack(client: u32, sport: u16, isn: u32, ack: u32) -> Vec<u8> {
    let mut f = segment(client, sport, isn, ack, 0x12, &[]);
    // Swap addresses and ports: PLC -> client.
    let (src, dst) = (f[12..16].to_vec(), f[16..20].to_vec());
    f[12..16].copy_from_slice(&dst);
    f[16..20].copy_from_slice(&src);
    f.swap(20, 22);
    f.swap(21, 23);
    f
}

#[test]
fn held_segment_and_syn_floods_stay_within_the_caps() {
    // Fewer flows than the flow cap (so they all hold at once), more bytes than
    // the buffered cap (8 MiB: 1 000 x 32 x 300 B would be 9.6 MB), more
    // segments per flow than its hold cap (32).
    const FLOWS: u32 = 1_000;
    const ROUNDS: u32 = 40;
    const SIZE: usize = 300;
    let cfg = EngineConfig { max_flows: 1_024, max_total_buffered: 8 << 20, ..EngineConfig::default() };
    let (cap_bytes, cap_flows) = (cfg.max_total_buffered, cfg.max_flows);
    let mut e = Engine::new(cfg);
    let mut sink = |_: &Event<'_>| {};
    let mut n = 0u64;
    let mut peak = (0usize, 0usize);
    let mut feed = |e: &mut Engine, f: Vec<u8>, sink: &mut dyn s7sentry_engine::EventSink| {
        n += 1;
        e.process(&Frame { frame: n, ts: Ts::new(1_000, (n * 10) as u32), linktype: 101, data: &f }, sink);
        assert!(e.buffered_bytes() <= cap_bytes, "frame {n}: {} bytes buffered", e.buffered_bytes());
        assert!(e.active_flows() <= cap_flows, "frame {n}: {} flows", e.active_flows());
        peak = (peak.0.max(e.buffered_bytes()), peak.1.max(e.active_flows()));
    };
    let payload: Vec<u8> = (0..SIZE).map(|k| k as u8).collect();
    for i in 0..FLOWS {
        let sport = 20_000 + i as u16;
        feed(&mut e, segment(i, sport, 1_000, 0, 0x02, &[]), &mut sink);
        feed(&mut e, syn_ack(i, sport, 5_000, 1_001), &mut sink);
        feed(&mut e, segment(i, sport, 1_001, 5_001, 0x10, &[]), &mut sink);
    }
    // Byte 1 001 never comes: every segment of every flow is held.
    for k in 0..ROUNDS {
        for i in 0..FLOWS {
            let seq = 1_002 + k * SIZE as u32;
            feed(&mut e, segment(i, 20_000 + i as u16, seq, 5_001, 0x10, &payload), &mut sink);
        }
    }
    // A SYN flood from other clients.
    for i in 0..20_000u32 {
        feed(&mut e, segment(100_000 + i, 1_024 + (i % 60_000) as u16, i, 0, 0x02, &[]), &mut sink);
    }
    let st = e.stats().clone();
    assert!(st.total_buffer_cap_hits > 0 && st.ooo_cap_hits > 0, "{st:?}");
    assert!(st.flows_evicted > 0, "{st:?}");
    assert!(st.gap_bytes > 0, "held bytes given up are counted: {st:?}");
    // The caps were reached, not just respected by an idle engine.
    assert!(peak.0 > cap_bytes / 2 && peak.1 == cap_flows, "peak {peak:?}");
    e.finish(&mut sink);
    assert_eq!(e.buffered_bytes(), 0);
    assert_eq!(e.active_flows(), 0);
}
