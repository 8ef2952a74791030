//! Decode outcomes on the generated decode cases (see each pcaps/<case>/README.md).

mod common;

use common::own_pcap;
use serde_json::Value;
use std::process::Command;

fn decode(case: &str) -> Vec<Value> {
    let dir = own_pcap(case);
    let f = ["capture.pcap", "capture.pcapng"].iter().map(|n| dir.join(n)).find(|p| p.exists()).unwrap();
    let o = Command::new(env!("CARGO_BIN_EXE_s7sentry")).arg("decode").arg(&f).output().unwrap();
    assert!(matches!(o.status.code(), Some(0 | 1)));
    String::from_utf8_lossy(&o.stdout).lines().map(|l| serde_json::from_str(l).unwrap()).collect()
}

/// The S7 conversation without link-specific fields (PDU references are per-capture random).
fn s7_view(r: &[Value]) -> Vec<String> {
    r.iter()
        .filter(|x| x["proto"] == "s7comm")
        .map(|x| format!("{} {} {} {}", x["rosctr"], x["function"], x["item_count"], x["szl_id"]))
        .collect()
}

#[test]
fn every_link_type_and_container_gives_the_same_conversation() {
    let base = s7_view(&decode("decode_rawip"));
    assert_eq!(base.len(), 18);
    for c in ["decode_sll", "decode_sll2", "decode_ipv6", "decode_nanosecond_be", "decode_pcapng"] {
        assert_eq!(s7_view(&decode(c)), base, "{c}");
    }
}

#[test]
fn nanosecond_timestamps_are_read() {
    let r = decode("decode_nanosecond_be");
    let ts = r[0]["ts"].as_str().unwrap();
    assert!(ts.starts_with("2026-01-01T00:00:") && ts.ends_with('Z') && ts.len() == 27, "{ts}");
}

#[test]
fn segmentation_and_cotp_fragments_are_reassembled() {
    let r = decode("decode_segmented");
    let jobs = r.iter().filter(|x| x["rosctr"] == 1).count();
    let acks = r.iter().filter(|x| x["rosctr"] == 3).count();
    assert_eq!((jobs, acks), (9, 9));
    assert!(r
        .iter()
        .any(|x| x["rosctr"] == 3 && x["param_len"].as_u64().unwrap() + x["data_len"].as_u64().unwrap() + 12 == 218));
    assert!(!r.iter().any(|x| x["proto"] == "finding"), "no finding expected");
}

#[test]
fn gaps_are_counted_and_decoding_resumes() {
    let r = decode("decode_gap");
    let gaps: Vec<_> = r.iter().filter(|x| x["kind"] == "stream_gap").collect();
    assert_eq!(gaps.len(), 2, "one gap per direction");
    // PDUs are decoded after the last gap.
    let last_gap = gaps.iter().map(|g| g["frame"].as_u64().unwrap()).max().unwrap();
    assert!(r.iter().any(|x| x["proto"] == "s7comm" && x["frame"].as_u64().unwrap() > last_gap));
}

#[test]
fn midstream_start_is_picked_up_without_findings() {
    let r = decode("decode_midstream");
    assert!(r.iter().filter(|x| x["rosctr"] == 1).count() >= 12);
    assert!(!r.iter().any(|x| x["proto"] == "finding"));
}

#[test]
fn vlan_and_qinq_are_decoded() {
    let r = decode("decode_vlan");
    let ports: std::collections::BTreeSet<_> =
        r.iter().filter(|x| x["proto"] == "s7comm").map(|x| x["sport"].as_u64()).collect();
    assert!(ports.len() >= 3, "both connections (and the PLC side) seen: {ports:?}");
}

#[test]
fn ip_fragments_are_reported_and_reassembled() {
    let r = decode("decode_ipfrag");
    assert_eq!(r.iter().filter(|x| x["kind"] == "ip_fragment").count(), 11);
    // The fragmented Write Var and Read Var jobs are decoded after reassembly.
    assert!(r.iter().any(|x| x["function"] == 5 && x["rosctr"] == 1));
}

#[test]
fn retransmissions_and_conflicting_overlap() {
    let r = decode("decode_retrans_ooo");
    assert_eq!(r.iter().filter(|x| x["kind"] == "overlap_conflict").count(), 1);
    let jobs = r.iter().filter(|x| x["rosctr"] == 1).count();
    let acks = r.iter().filter(|x| x["rosctr"] == 3).count();
    assert_eq!(jobs, acks, "every job and answer decoded once, despite duplicates");
}

#[test]
fn s7comm_plus_and_tls() {
    let r = decode("s7plus_basic");
    assert!(r.iter().any(|x| x["proto"] == "s7comm-plus" && x["function"] == 0x04CA));
    assert!(r.iter().any(|x| x["proto"] == "cotp" && x["dst_tsap"] == "SIMATIC-ROOT-HMI"));
    let r = decode("s7plus_tls");
    assert_eq!(r.iter().filter(|x| x["proto"] == "tls").count(), 1);
    assert!(!r.iter().any(|x| x["proto"] == "finding"));
}
