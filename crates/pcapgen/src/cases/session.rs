//! An S7 client/PLC conversation on one TCP connection, for writing cases tersely.
//!
//! Each method writes both directions (request, PLC processing delay, response) and
//! keeps PDU references, COTP references and userdata sequence numbers.

use super::hosts;
use crate::rng::SplitMix64;
use crate::s7::{self, AnyItem};
use crate::s7plus;
use crate::trace::{Dir, TcpConn, Trace};
use std::net::IpAddr;

/// One client talking to one PLC.
#[derive(Debug, Clone)]
pub struct Session {
    /// The TCP connection.
    pub c: TcpConn,
    /// Next PDU reference the client uses.
    pub pdu_ref: u16,
    /// Next PDU reference the PLC uses for its own jobs (download).
    pub plc_ref: u16,
    /// Client's COTP source reference.
    pub cotp_client: u16,
    /// PLC's COTP source reference.
    pub cotp_plc: u16,
    /// Next userdata sequence number.
    pub ud_seq: u8,
    /// Random values (ISNs, data, delays).
    pub rng: SplitMix64,
    /// PLC processing delay range in microseconds.
    pub delay_us: (u64, u64),
    /// S7comm-plus sequence number.
    pub plus_seq: u16,
    /// S7comm-plus session id (after CreateObject).
    pub plus_session: u32,
}

impl Session {
    /// New session from `client:cport` to `plc:102`, ISNs and values drawn from `seed`.
    pub fn new(client: IpAddr, cport: u16, plc: IpAddr, seed: u64) -> Self {
        let mut rng = SplitMix64::new(seed);
        let c = TcpConn::new(client, cport, plc, hosts::S7_PORT, rng.next_u32(), rng.next_u32());
        let pdu_ref = (rng.below(0x0400) as u16) << 4 | 0x0100;
        let cotp_client = rng.range(1, 0x7FFF) as u16;
        let cotp_plc = rng.range(1, 0x7FFF) as u16;
        Self {
            c,
            pdu_ref,
            plc_ref: 0x0100,
            cotp_client,
            cotp_plc,
            ud_seq: 0,
            rng,
            delay_us: (1_200, 4_500),
            plus_seq: 1,
            plus_session: 0,
        }
    }

    /// A PLC processing delay drawn from [`delay_us`](Self::delay_us).
    pub fn delay(&mut self) -> u64 {
        self.rng.range(self.delay_us.0, self.delay_us.1)
    }

    /// Take the next client PDU reference.
    pub fn next_ref(&mut self) -> u16 {
        let r = self.pdu_ref;
        self.pdu_ref = self.pdu_ref.wrapping_add(1);
        r
    }

    /// Take the next userdata sequence number.
    pub fn next_seq(&mut self) -> u8 {
        self.ud_seq = self.ud_seq.wrapping_add(1);
        self.ud_seq
    }

    /// Client sends `req`, the PLC answers `resp` after its processing delay.
    pub fn xchg(&mut self, tr: &mut Trace, req: &[u8], resp: &[u8]) {
        self.c.send(tr, Dir::C2S, req);
        let d = self.delay();
        tr.wait_us(d);
        self.c.send(tr, Dir::S2C, resp);
    }

    /// Client sends `req` only.
    pub fn send(&mut self, tr: &mut Trace, req: &[u8]) {
        self.c.send(tr, Dir::C2S, req);
    }

    /// PLC sends `resp` only, after its processing delay.
    pub fn answer(&mut self, tr: &mut Trace, resp: &[u8]) {
        let d = self.delay();
        tr.wait_us(d);
        self.c.send(tr, Dir::S2C, resp);
    }

    /// TCP handshake.
    pub fn handshake(&mut self, tr: &mut Trace) {
        let d = self.rng.range(150, 400);
        self.c.handshake(tr, d);
    }

    /// COTP CR/CC with classic TSAPs (calling `conn_type 00`, called `conn_type rack0/slot1`).
    pub fn cotp_connect(&mut self, tr: &mut Trace, conn_type: u8) {
        let calling = [conn_type, 0x00];
        let called = s7::tsap(conn_type, 0, 1);
        let req = s7::cr(self.cotp_client, &calling, &called);
        let resp = s7::cc(self.cotp_client, self.cotp_plc, &calling, &called);
        self.xchg(tr, &req, &resp);
    }

    /// TCP handshake, then COTP CR/CC (classic TSAPs).
    pub fn open(&mut self, tr: &mut Trace, conn_type: u8) {
        self.handshake(tr);
        self.cotp_connect(tr, conn_type);
    }

    /// Setup Communication job and its Ack_Data (the PLC grants what was asked).
    pub fn setup(&mut self, tr: &mut Trace, amq: u16, pdu: u16) {
        self.setup_ask(tr, (amq, amq, pdu), (amq, amq, pdu));
    }

    /// Setup Communication asking `asked` (AmQ calling, AmQ called, PDU) and granted `granted`.
    pub fn setup_ask(&mut self, tr: &mut Trace, asked: (u16, u16, u16), granted: (u16, u16, u16)) {
        let r = self.next_ref();
        let req = s7::job(r, &s7::setup_comm_param(asked.0, asked.1, asked.2), &[]);
        let resp = s7::ack_data(r, &s7::setup_comm_param(granted.0, granted.1, granted.2), &[]);
        self.xchg(tr, &req, &resp);
    }

    /// COTP CR/CC with classic TSAPs to rack `rack`, slot `slot` (calling `conn_type 00`).
    pub fn cotp_connect_slot(&mut self, tr: &mut Trace, conn_type: u8, rack: u8, slot: u8) {
        let calling = [conn_type, 0x00];
        let called = s7::tsap(conn_type, rack, slot);
        let req = s7::cr(self.cotp_client, &calling, &called);
        let resp = s7::cc(self.cotp_client, self.cotp_plc, &calling, &called);
        self.xchg(tr, &req, &resp);
    }

    /// Handshake, CR/CC as `conn_type`, Setup Communication (AmQ 1/1, PDU 480).
    pub fn connect(&mut self, tr: &mut Trace, conn_type: u8) {
        self.open(tr, conn_type);
        self.setup(tr, 1, 480);
    }

    /// Random bytes standing for process values.
    pub fn values(&mut self, n: usize) -> Vec<u8> {
        self.rng.bytes(n)
    }

    /// Read Var job for `items`, answered with random values of the right sizes.
    pub fn read(&mut self, tr: &mut Trace, items: &[AnyItem]) {
        let (req, resp) = self.read_frames(items);
        self.xchg(tr, &req, &resp);
    }

    /// The Read Var job and answer frames for `items` (takes a PDU reference).
    pub fn read_frames(&mut self, items: &[AnyItem]) -> (Vec<u8>, Vec<u8>) {
        let r = self.next_ref();
        let vals: Vec<Vec<u8>> = items.iter().map(|i| self.rng.bytes(i.value_len())).collect();
        let refs: Vec<&[u8]> = vals.iter().map(|v| v.as_slice()).collect();
        (s7::read_var_job(r, items), s7::read_var_ack(r, &refs))
    }

    /// Write Var job writing `values`, answered with success.
    pub fn write(&mut self, tr: &mut Trace, items: &[AnyItem], values: &[&[u8]]) {
        let (req, resp) = self.write_frames(items, values);
        self.xchg(tr, &req, &resp);
    }

    /// The Write Var job and answer frames.
    pub fn write_frames(&mut self, items: &[AnyItem], values: &[&[u8]]) -> (Vec<u8>, Vec<u8>) {
        let r = self.next_ref();
        (s7::write_var_job(r, items, values), s7::write_var_ack(r, items.len()))
    }

    /// The usual HMI poll: read DB1.DBB0 (32 bytes) and MB0 (4 bytes); every fifth cycle
    /// also write DB1.DBW4.
    pub fn poll(&mut self, tr: &mut Trace, cycle: usize) {
        self.read(tr, &POLL_ITEMS);
        if cycle % 5 == 4 {
            let v = (cycle as u16).to_be_bytes();
            self.write(tr, &[AnyItem::db_word(1, 4)], &[&v]);
        }
    }

    /// Read SZL 0x0011 index 0 (module identification), answered.
    pub fn szl_0011(&mut self, tr: &mut Trace) {
        self.szl_0011_as(tr, hosts::ORDER_NO, hosts::FIRMWARE);
    }

    /// Read SZL 0x0011 index 0, answered with order number `order_no` and firmware `fw`.
    pub fn szl_0011_as(&mut self, tr: &mut Trace, order_no: &str, fw: (u8, u8, u8)) {
        let (r, s) = (self.next_ref(), self.next_seq());
        let req = s7::szl_req(r, s, 0x0011, 0x0000);
        let resp = s7::szl_resp(r, s, 0x0011, 0x0000, 28, &s7::szl_0011_records(order_no, fw));
        self.xchg(tr, &req, &resp);
    }

    /// Read SZL 0x001C index 0, answered with `records` (34 bytes each); when `split` is
    /// `Some(cut)` the answer comes in two data units cut at payload byte `cut`, with the
    /// client's follow-up request between them (see [`s7::szl_resp_split`]).
    pub fn szl_001c_as(&mut self, tr: &mut Trace, records: &[Vec<u8>], split: Option<usize>) {
        let (r, s) = (self.next_ref(), self.next_seq());
        let req = s7::szl_req(r, s, 0x001C, 0x0000);
        match split {
            None => {
                let resp = s7::szl_resp(r, s, 0x001C, 0x0000, 34, records);
                self.xchg(tr, &req, &resp);
            }
            Some(cut) => {
                let r2 = self.next_ref();
                let dref = (self.rng.range(0x80, 0xF0)) as u8;
                let (first, follow, last) = s7::szl_resp_split(r, r2, s, dref, 0x001C, 0x0000, 34, records, cut);
                self.xchg(tr, &req, &first);
                tr.wait_us(700);
                self.xchg(tr, &follow, &last);
            }
        }
    }

    /// Read SZL 0x001C index 0 (component identification), answered.
    pub fn szl_001c(&mut self, tr: &mut Trace) {
        let (r, s) = (self.next_ref(), self.next_seq());
        let req = s7::szl_req(r, s, 0x001C, 0x0000);
        let recs = s7::szl_001c_records(
            "S7-1500 station_1",
            "PLC_1",
            "Line 3 / Filler",
            "S C-J4U812342026",
            "CPU 1516-3 PN/DP",
        );
        let resp = s7::szl_resp(r, s, 0x001C, 0x0000, 34, &recs);
        self.xchg(tr, &req, &resp);
    }

    /// Read clock, answered with 2026-01-01 00:00:xx.
    pub fn clock_read(&mut self, tr: &mut Trace) {
        let (r, s) = (self.next_ref(), self.next_seq());
        let secs = ((tr.now_ns - crate::trace::START_NS) / 1_000_000_000) as u32;
        let t = s7::s7_time(2026, 1, 1, 0, secs / 60 % 60, secs % 60, 250, 5);
        self.xchg(tr, &s7::clock_read_req(r, s), &s7::clock_read_resp(r, s, &t));
    }

    /// Job with parameter `param` answered by an Ack_Data whose parameter is `ack_param`.
    pub fn job(&mut self, tr: &mut Trace, param: &[u8], ack_param: &[u8]) {
        let r = self.next_ref();
        self.xchg(tr, &s7::job(r, param, &[]), &s7::ack_data(r, ack_param, &[]));
    }

    /// COTP DR from the client (reason 0x80 normal), DC from the PLC, then TCP FIN close.
    pub fn close_dr(&mut self, tr: &mut Trace) {
        let dr = s7::dr(self.cotp_plc, self.cotp_client, 0x80, &[], &[]);
        let dc = s7::dc(self.cotp_client, self.cotp_plc);
        self.xchg(tr, &dr, &dc);
        self.close_fin(tr);
    }

    /// TCP FIN close started by the client.
    pub fn close_fin(&mut self, tr: &mut Trace) {
        tr.wait_us(300);
        let d = self.rng.range(150, 400);
        self.c.close(tr, Dir::C2S, d);
    }

    /// Handshake and S7comm-plus CR/CC: calling TSAP `06 00`, called TSAP the ASCII `name`
    /// (`SIMATIC-ROOT-HMI` or `SIMATIC-ROOT-ES`).
    pub fn open_plus(&mut self, tr: &mut Trace, name: &str) {
        self.handshake(tr);
        let calling = [0x06, 0x00];
        let p = [
            (s7::param::TPDU_SIZE, &[0x0Au8][..]),
            (s7::param::CALLING_TSAP, &calling[..]),
            (s7::param::CALLED_TSAP, name.as_bytes()),
        ];
        let req = s7::tpkt(&s7::cotp_connect(0xE0, 0, self.cotp_client, 0, &p));
        let resp = s7::tpkt(&s7::cotp_connect(0xD0, self.cotp_client, self.cotp_plc, 0, &p));
        self.xchg(tr, &req, &resp);
    }

    /// Take the next S7comm-plus sequence number.
    pub fn next_plus_seq(&mut self) -> u16 {
        let s = self.plus_seq;
        self.plus_seq = self.plus_seq.wrapping_add(1);
        s
    }

    /// CreateObject (V1) from `client_name`, answered with a new session id.
    pub fn create_object(&mut self, tr: &mut Trace, client_name: &str) {
        let seq = self.next_plus_seq();
        self.plus_session = 0x0000_0380 | (self.rng.below(0x40) as u32);
        let req = s7plus::create_object_req(seq, client_name);
        let resp = s7plus::create_object_resp(seq, self.plus_session, 3);
        self.xchg(tr, &req, &resp);
    }

    /// CreateObject (V1) from `client_name`, answered with a new session id and the PLC's
    /// identification attribute `ident` (`1;<order number> ;V<firmware>`).
    pub fn create_object_ident(&mut self, tr: &mut Trace, client_name: &str, ident: &str) {
        let seq = self.next_plus_seq();
        self.plus_session = 0x0000_0380 | (self.rng.below(0x40) as u32);
        let req = s7plus::create_object_req(seq, client_name);
        let resp = s7plus::create_object_resp_ident(seq, self.plus_session, 3, ident);
        self.xchg(tr, &req, &resp);
    }

    /// A 32-byte integrity digest (random: the key is unknown to a passive sensor anyway).
    pub fn digest(&mut self) -> [u8; 32] {
        let mut d = [0u8; 32];
        self.rng.fill(&mut d);
        d
    }
}

/// Items of the usual HMI poll: DB1.DBB0 32 bytes and MB0 4 bytes.
pub const POLL_ITEMS: [AnyItem; 2] = [AnyItem::db_bytes(1, 0, 32), AnyItem::area_bytes(s7::area::FLAGS, 0, 4)];
