//! Builders for TPKT (RFC 1006), COTP (ISO 8073 class 0) and S7comm (protocol id 0x32).
//!
//! Layouts follow `research/advisories-and-wire-format.md` §2.1–2.3 and the field
//! meanings of Wireshark's S7comm dissector (read for facts only). Every builder
//! that returns a *frame* returns the complete TPKT (`03 00 len` + COTP + S7 PDU),
//! ready to go into a TCP send; builders named `*_param` / `*_data` return the
//! S7 parameter or data part only.

/// ROSCTR Job.
pub const JOB: u8 = 0x01;
/// ROSCTR Ack (no data).
pub const ACK: u8 = 0x02;
/// ROSCTR Ack_Data.
pub const ACK_DATA: u8 = 0x03;
/// ROSCTR Userdata.
pub const USERDATA: u8 = 0x07;

/// TPKT: `03 00 | length(2, whole TPKT) | payload`.
pub fn tpkt(payload: &[u8]) -> Vec<u8> {
    tpkt_raw(3, 0, (payload.len() + 4) as u16, payload)
}

/// TPKT with every header field chosen by the caller (for malformed cases).
pub fn tpkt_raw(version: u8, reserved: u8, length: u16, payload: &[u8]) -> Vec<u8> {
    let mut v = Vec::with_capacity(payload.len() + 4);
    v.push(version);
    v.push(reserved);
    v.extend_from_slice(&length.to_be_bytes());
    v.extend_from_slice(payload);
    v
}

/// COTP parameter codes.
pub mod param {
    /// TPDU size (1 byte: 0x0A = 1024).
    pub const TPDU_SIZE: u8 = 0xC0;
    /// Calling (source) TSAP.
    pub const CALLING_TSAP: u8 = 0xC1;
    /// Called (destination) TSAP.
    pub const CALLED_TSAP: u8 = 0xC2;
}

/// COTP connection TPDU (CR 0xE0 or CC 0xD0), without TPKT:
/// `LI | code | dst-ref(2) | src-ref(2) | class/options | (code len value)*`. LI = 6 + parameters.
pub fn cotp_connect(code: u8, dst_ref: u16, src_ref: u16, class: u8, params: &[(u8, &[u8])]) -> Vec<u8> {
    let mut body = vec![code];
    body.extend_from_slice(&dst_ref.to_be_bytes());
    body.extend_from_slice(&src_ref.to_be_bytes());
    body.push(class);
    for (c, v) in params {
        body.push(*c);
        body.push(v.len() as u8);
        body.extend_from_slice(v);
    }
    let mut v = vec![body.len() as u8];
    v.extend_from_slice(&body);
    v
}

/// TSAP of a classic S7 connection: connection type (1 PG, 2 OP, 3 S7 basic) and rack/slot
/// (`type | rack*32 + slot`).
pub fn tsap(conn_type: u8, rack: u8, slot: u8) -> [u8; 2] {
    [conn_type, rack * 32 + slot]
}

/// Classic S7 COTP Connect Request frame (TPKT + CR):
/// `03 00 00 16 | 11 E0 0000 <src-ref> 00 | C0 01 0A | C1 02 <calling> | C2 02 <called>`.
pub fn cr(src_ref: u16, calling: &[u8], called: &[u8]) -> Vec<u8> {
    tpkt(&cotp_connect(
        0xE0,
        0,
        src_ref,
        0,
        &[(param::TPDU_SIZE, &[0x0A]), (param::CALLING_TSAP, calling), (param::CALLED_TSAP, called)],
    ))
}

/// COTP Connect Confirm frame answering [`cr`]: dst-ref = the CR's src-ref, same parameters.
pub fn cc(dst_ref: u16, src_ref: u16, calling: &[u8], called: &[u8]) -> Vec<u8> {
    tpkt(&cotp_connect(
        0xD0,
        dst_ref,
        src_ref,
        0,
        &[(param::TPDU_SIZE, &[0x0A]), (param::CALLING_TSAP, calling), (param::CALLED_TSAP, called)],
    ))
}

/// COTP Disconnect Request frame: `LI 80 dst-ref src-ref reason [params]` then `trailing` user bytes
/// after the LI-bounded header (a well-formed DR has neither params nor trailing bytes; LI = 6).
pub fn dr(dst_ref: u16, src_ref: u16, reason: u8, params: &[u8], trailing: &[u8]) -> Vec<u8> {
    let mut c = vec![(6 + params.len()) as u8, 0x80];
    c.extend_from_slice(&dst_ref.to_be_bytes());
    c.extend_from_slice(&src_ref.to_be_bytes());
    c.push(reason);
    c.extend_from_slice(params);
    c.extend_from_slice(trailing);
    tpkt(&c)
}

/// COTP Disconnect Confirm frame: `05 C0 dst-ref src-ref`.
pub fn dc(dst_ref: u16, src_ref: u16) -> Vec<u8> {
    let mut c = vec![5, 0xC0];
    c.extend_from_slice(&dst_ref.to_be_bytes());
    c.extend_from_slice(&src_ref.to_be_bytes());
    tpkt(&c)
}

/// COTP DT frame: `03 00 len | 02 F0 <EOT<<7 | nr> | user data`.
pub fn dt(eot: bool, nr: u8, user: &[u8]) -> Vec<u8> {
    let mut c = vec![2, 0xF0, (if eot { 0x80 } else { 0 }) | (nr & 0x7F)];
    c.extend_from_slice(user);
    tpkt(&c)
}

/// One S7 PDU in one DT TPDU with EOT set (the usual case).
pub fn dt_pdu(s7pdu: &[u8]) -> Vec<u8> {
    dt(true, 0, s7pdu)
}

/// One S7 PDU split into several DT TPDUs at the given positions of the PDU; EOT only on the
/// last, TPDU-NR counting from 0. Returns the TPKT frames concatenated.
pub fn dt_fragmented(s7pdu: &[u8], cuts: &[usize]) -> Vec<u8> {
    let mut out = Vec::new();
    let mut s = 0;
    let ends: Vec<usize> = cuts.iter().copied().chain(std::iter::once(s7pdu.len())).collect();
    for (i, &e) in ends.iter().enumerate() {
        out.extend(dt(i + 1 == ends.len(), i as u8, &s7pdu[s..e]));
        s = e;
    }
    out
}

/// S7comm PDU: header `32 rosctr 0000 pdu-ref param-len data-len [error class, error code]`
/// (the error bytes for ROSCTR 2 and 3 only), then parameter and data.
pub fn s7_pdu(rosctr: u8, pdu_ref: u16, param: &[u8], data: &[u8], err: u16) -> Vec<u8> {
    s7_pdu_lens(rosctr, pdu_ref, param.len() as u16, data.len() as u16, param, data, err)
}

/// Like [`s7_pdu`] with the declared lengths chosen by the caller (for malformed cases).
pub fn s7_pdu_lens(rosctr: u8, pdu_ref: u16, plen: u16, dlen: u16, param: &[u8], data: &[u8], err: u16) -> Vec<u8> {
    let mut v = vec![0x32, rosctr, 0, 0];
    v.extend_from_slice(&pdu_ref.to_be_bytes());
    v.extend_from_slice(&plen.to_be_bytes());
    v.extend_from_slice(&dlen.to_be_bytes());
    if rosctr == ACK || rosctr == ACK_DATA {
        v.extend_from_slice(&err.to_be_bytes());
    }
    v.extend_from_slice(param);
    v.extend_from_slice(data);
    v
}

/// Job frame (TPKT + DT + S7 Job).
pub fn job(pdu_ref: u16, param: &[u8], data: &[u8]) -> Vec<u8> {
    dt_pdu(&s7_pdu(JOB, pdu_ref, param, data, 0))
}

/// Ack_Data frame with error class/code 0 (success).
pub fn ack_data(pdu_ref: u16, param: &[u8], data: &[u8]) -> Vec<u8> {
    dt_pdu(&s7_pdu(ACK_DATA, pdu_ref, param, data, 0))
}

/// Ack_Data frame with an error: `class` (e.g. 0x85, 0xD6 family codes sit in `code`)
/// written as the 2-byte error field `class code`.
pub fn ack_data_err(pdu_ref: u16, class: u8, code: u8, param: &[u8], data: &[u8]) -> Vec<u8> {
    dt_pdu(&s7_pdu(ACK_DATA, pdu_ref, param, data, u16::from_be_bytes([class, code])))
}

/// Userdata frame (ROSCTR 7).
pub fn userdata(pdu_ref: u16, param: &[u8], data: &[u8]) -> Vec<u8> {
    dt_pdu(&s7_pdu(USERDATA, pdu_ref, param, data, 0))
}

/// Setup Communication parameter: `F0 00 | MaxAmQ calling(2) | MaxAmQ called(2) | PDU length(2)`.
pub fn setup_comm_param(amq_calling: u16, amq_called: u16, pdu_len: u16) -> Vec<u8> {
    let mut v = vec![0xF0, 0x00];
    v.extend_from_slice(&amq_calling.to_be_bytes());
    v.extend_from_slice(&amq_called.to_be_bytes());
    v.extend_from_slice(&pdu_len.to_be_bytes());
    v
}

/// Memory areas of S7ANY addresses.
pub mod area {
    /// Process inputs (I).
    pub const INPUTS: u8 = 0x81;
    /// Process outputs (Q).
    pub const OUTPUTS: u8 = 0x82;
    /// Flags / markers (M).
    pub const FLAGS: u8 = 0x83;
    /// Data blocks (DB).
    pub const DB: u8 = 0x84;
}

/// Transport sizes of S7ANY items (parameter part).
pub mod tsize {
    /// BIT.
    pub const BIT: u8 = 0x01;
    /// BYTE.
    pub const BYTE: u8 = 0x02;
    /// WORD.
    pub const WORD: u8 = 0x04;
    /// DWORD.
    pub const DWORD: u8 = 0x06;
    /// REAL.
    pub const REAL: u8 = 0x08;
}

/// One S7ANY variable address (12 bytes):
/// `12 0A 10 | transport size | count(2) | DB number(2) | area | bit address(3) = byte*8 + bit`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AnyItem {
    /// Transport size ([`tsize`]).
    pub ts: u8,
    /// Number of elements of that size.
    pub count: u16,
    /// DB number (0 outside the DB area).
    pub db: u16,
    /// Memory area ([`area`]).
    pub area: u8,
    /// Byte offset.
    pub byte: u32,
    /// Bit offset (0..7).
    pub bit: u8,
}

impl AnyItem {
    /// `count` bytes of DB `db` from byte `byte`.
    pub const fn db_bytes(db: u16, byte: u32, count: u16) -> Self {
        Self { ts: tsize::BYTE, count, db, area: area::DB, byte, bit: 0 }
    }
    /// One word of DB `db` at byte `byte` (e.g. DB1.DBW4).
    pub const fn db_word(db: u16, byte: u32) -> Self {
        Self { ts: tsize::WORD, count: 1, db, area: area::DB, byte, bit: 0 }
    }
    /// `count` bytes of area `area` (I, Q, M) from byte `byte`.
    pub const fn area_bytes(area: u8, byte: u32, count: u16) -> Self {
        Self { ts: tsize::BYTE, count, db: 0, area, byte, bit: 0 }
    }
    /// Serialise the 12 bytes.
    pub fn bytes(&self) -> [u8; 12] {
        let addr = self.byte * 8 + u32::from(self.bit);
        let c = self.count.to_be_bytes();
        let d = self.db.to_be_bytes();
        let a = addr.to_be_bytes();
        [0x12, 0x0A, 0x10, self.ts, c[0], c[1], d[0], d[1], self.area, a[1], a[2], a[3]]
    }
    /// Size in bytes of the value this item addresses.
    pub fn value_len(&self) -> usize {
        let unit = match self.ts {
            tsize::BIT | tsize::BYTE => 1,
            tsize::WORD => 2,
            _ => 4,
        };
        unit * usize::from(self.count)
    }
}

/// Read Var / Write Var parameter: `func | item count | items`.
pub fn var_param(func: u8, items: &[AnyItem]) -> Vec<u8> {
    let mut v = vec![func, items.len() as u8];
    for i in items {
        v.extend_from_slice(&i.bytes());
    }
    v
}

/// Data-item transport sizes (data part).
pub mod dsize {
    /// BIT: length in bits.
    pub const BIT: u8 = 0x03;
    /// BYTE/WORD/DWORD: length in bits.
    pub const BYTE_WORD_DWORD: u8 = 0x04;
    /// OCTET STRING: length in bytes.
    pub const OCTET_STRING: u8 = 0x09;
}

/// One data item: `return code | transport size | length(2) | data | fill byte if odd and not last`.
/// The length is in bits for transport sizes 0x03/0x04/0x05, in bytes otherwise.
pub fn data_item(out: &mut Vec<u8>, rc: u8, ts: u8, data: &[u8], last: bool) {
    out.push(rc);
    out.push(ts);
    let len = match ts {
        0x03..=0x05 => data.len() * 8,
        _ => data.len(),
    };
    out.extend_from_slice(&(len as u16).to_be_bytes());
    out.extend_from_slice(data);
    if !last && data.len() % 2 == 1 {
        out.push(0);
    }
}

/// Read Var job frame.
pub fn read_var_job(pdu_ref: u16, items: &[AnyItem]) -> Vec<u8> {
    job(pdu_ref, &var_param(0x04, items), &[])
}

/// Read Var Ack_Data frame: parameter `04 count`, data = one item (return code 0xFF success,
/// transport size 0x04) per value.
pub fn read_var_ack(pdu_ref: u16, values: &[&[u8]]) -> Vec<u8> {
    let mut data = Vec::new();
    for (i, v) in values.iter().enumerate() {
        data_item(&mut data, 0xFF, dsize::BYTE_WORD_DWORD, v, i + 1 == values.len());
    }
    ack_data(pdu_ref, &[0x04, values.len() as u8], &data)
}

/// Write Var job frame: parameter items, then data items `00 04 len(bits) value`.
pub fn write_var_job(pdu_ref: u16, items: &[AnyItem], values: &[&[u8]]) -> Vec<u8> {
    let mut data = Vec::new();
    for (i, v) in values.iter().enumerate() {
        data_item(&mut data, 0x00, dsize::BYTE_WORD_DWORD, v, i + 1 == values.len());
    }
    job(pdu_ref, &var_param(0x05, items), &data)
}

/// Write Var Ack_Data frame: parameter `05 count`, data = one return code per item (0xFF success).
pub fn write_var_ack(pdu_ref: u16, n: usize) -> Vec<u8> {
    ack_data(pdu_ref, &[0x05, n as u8], &vec![0xFF; n])
}

/// PLC Stop (0x29) parameter: `29 00 00 00 00 00 | 09 | "P_PROGRAM"`.
pub fn plc_stop_param() -> Vec<u8> {
    let mut v = vec![0x29, 0, 0, 0, 0, 0, 9];
    v.extend_from_slice(b"P_PROGRAM");
    v
}

/// PI-Service (0x28) parameter: `28 | 00 00 00 00 00 00 FD | param-block length(2) | param block |
/// name length(1) | name`.
pub fn pi_param(block: &[u8], service: &[u8]) -> Vec<u8> {
    let mut v = vec![0x28, 0, 0, 0, 0, 0, 0, 0xFD];
    v.extend_from_slice(&(block.len() as u16).to_be_bytes());
    v.extend_from_slice(block);
    v.push(service.len() as u8);
    v.extend_from_slice(service);
    v
}

/// PI argument block naming blocks (for `_INSE` / `_DELE`): `count | 00 | (block type(2 ASCII)
/// number(5 ASCII) file system(1 ASCII))*`, e.g. `01 00 "0800001P"` for OB1.
pub fn pi_blocks_arg(blocks: &[(&str, u32)]) -> Vec<u8> {
    let mut v = vec![blocks.len() as u8, 0];
    for (t, n) in blocks {
        v.extend_from_slice(format!("{t}{n:05}P").as_bytes());
    }
    v
}

/// Block type codes as written in file names (two ASCII digits/letters).
pub mod block {
    /// Organisation block.
    pub const OB: &str = "08";
    /// Data block.
    pub const DB: &str = "0A";
    /// System data block.
    pub const SDB: &str = "0B";
    /// Function.
    pub const FC: &str = "0C";
    /// Function block.
    pub const FB: &str = "0E";
}

/// S7 block file name, 9 ASCII bytes: `_` (complete module) + block type (2) + number (5 digits)
/// + destination file system (`P` passive, `A` active, `B` both). `_0800001P` is OB1.
pub fn block_file(btype: &str, number: u32, fs: char) -> String {
    format!("_{btype}{number:05}{fs}")
}

fn updown_head(func: u8, status: u8, mid: [u8; 2], id: u32) -> Vec<u8> {
    let mut v = vec![func, status];
    v.extend_from_slice(&mid);
    v.extend_from_slice(&id.to_be_bytes());
    v
}

fn push_file(v: &mut Vec<u8>, file: &str) {
    v.push(file.len() as u8);
    v.extend_from_slice(file.as_bytes());
}

/// Request Download (0x1A) parameter: `1A 00 | 01 00 | 00000000 | len file | 0D '1' loadmem(6 ASCII)
/// mc7(6 ASCII)`.
pub fn request_download_param(file: &str, loadmem_len: u32, mc7_len: u32) -> Vec<u8> {
    let mut v = updown_head(0x1A, 0, [0x01, 0x00], 0);
    push_file(&mut v, file);
    v.push(13);
    v.push(b'1');
    v.extend_from_slice(format!("{loadmem_len:06}{mc7_len:06}").as_bytes());
    v
}

/// Download Block (0x1B) job parameter (sent by the PLC to pull data): `1B 00 | 01 00 | 00000000 | len file`.
pub fn download_block_param(file: &str) -> Vec<u8> {
    let mut v = updown_head(0x1B, 0, [0x01, 0x00], 0);
    push_file(&mut v, file);
    v
}

/// Download Ended (0x1C) job parameter: `1C 00 | error code 0000 | 00000000 | len file`.
pub fn download_ended_param(file: &str) -> Vec<u8> {
    let mut v = updown_head(0x1C, 0, [0, 0], 0);
    push_file(&mut v, file);
    v
}

/// Data of a Download Block / Upload Ack_Data: `length(2) | 00 FB | bytes`.
pub fn block_data(bytes: &[u8]) -> Vec<u8> {
    let mut v = (bytes.len() as u16).to_be_bytes().to_vec();
    v.extend_from_slice(&[0x00, 0xFB]);
    v.extend_from_slice(bytes);
    v
}

/// Start Upload (0x1D) job parameter: `1D 00 | 00 00 | upload id 00000000 | len file`.
pub fn start_upload_param(file: &str) -> Vec<u8> {
    let mut v = updown_head(0x1D, 0, [0, 0], 0);
    push_file(&mut v, file);
    v
}

/// Start Upload Ack_Data parameter: `1D 00 | 01 00 | upload id | len | block length (ASCII)`.
pub fn start_upload_ack_param(upload_id: u32, total_len: u32) -> Vec<u8> {
    let mut v = updown_head(0x1D, 0, [0x01, 0x00], upload_id);
    let s = format!("{total_len:07}");
    push_file(&mut v, &s);
    v
}

/// Upload (0x1E) job parameter: `1E 00 | 00 00 | upload id`.
pub fn upload_param(upload_id: u32) -> Vec<u8> {
    updown_head(0x1E, 0, [0, 0], upload_id)
}

/// End Upload (0x1F) job parameter: `1F 00 | error code 0000 | upload id`.
pub fn end_upload_param(upload_id: u32) -> Vec<u8> {
    updown_head(0x1F, 0, [0, 0], upload_id)
}

/// Userdata function groups.
pub mod group {
    /// Programmer commands (TIS).
    pub const PROG: u8 = 0x01;
    /// CPU functions (SZL).
    pub const CPU: u8 = 0x04;
    /// Security (password).
    pub const SECURITY: u8 = 0x05;
    /// Time functions.
    pub const TIME: u8 = 0x07;
}

/// Userdata request parameter (8 bytes): `00 01 12 | 04 | 11 | 0x40|group | subfunction | seq`.
pub fn ud_req_param(group: u8, sub: u8, seq: u8) -> Vec<u8> {
    vec![0x00, 0x01, 0x12, 0x04, 0x11, 0x40 | group, sub, seq]
}

/// Userdata response parameter (12 bytes): `00 01 12 | 08 | 12 | 0x80|group | subfunction | seq |
/// data-unit ref | last unit (00) | error code(2)`.
pub fn ud_resp_param(group: u8, sub: u8, seq: u8, err: u16) -> Vec<u8> {
    let e = err.to_be_bytes();
    vec![0x00, 0x01, 0x12, 0x08, 0x12, 0x80 | group, sub, seq, 0x00, 0x00, e[0], e[1]]
}

/// Userdata data part: `return code | transport size | length(2) | payload`.
pub fn ud_data(rc: u8, ts: u8, payload: &[u8]) -> Vec<u8> {
    let mut v = vec![rc, ts];
    v.extend_from_slice(&(payload.len() as u16).to_be_bytes());
    v.extend_from_slice(payload);
    v
}

/// Empty userdata data part used by requests without payload: `0A 00 00 00`.
pub fn ud_no_data() -> Vec<u8> {
    vec![0x0A, 0x00, 0x00, 0x00]
}

/// Read SZL request frame: group 4 subfunction 1, data `FF 09 00 04 | SZL-ID | index`.
pub fn szl_req(pdu_ref: u16, seq: u8, id: u16, index: u16) -> Vec<u8> {
    let mut p = id.to_be_bytes().to_vec();
    p.extend_from_slice(&index.to_be_bytes());
    userdata(pdu_ref, &ud_req_param(group::CPU, 0x01, seq), &ud_data(0xFF, 0x09, &p))
}

/// Read SZL answer payload: SZL-ID, index, record length, record count, records.
fn szl_payload(id: u16, index: u16, rec_len: u16, records: &[Vec<u8>]) -> Vec<u8> {
    let mut p = id.to_be_bytes().to_vec();
    p.extend_from_slice(&index.to_be_bytes());
    p.extend_from_slice(&rec_len.to_be_bytes());
    p.extend_from_slice(&(records.len() as u16).to_be_bytes());
    for r in records {
        p.extend_from_slice(r);
    }
    p
}

/// Read SZL response frame: data `FF 09 len | SZL-ID | index | record length(2) | record count(2) | records`.
pub fn szl_resp(pdu_ref: u16, seq: u8, id: u16, index: u16, rec_len: u16, records: &[Vec<u8>]) -> Vec<u8> {
    let p = szl_payload(id, index, rec_len, records);
    userdata(pdu_ref, &ud_resp_param(group::CPU, 0x01, seq, 0), &ud_data(0xFF, 0x09, &p))
}

/// A Read SZL answer in two data units, the way an S7-300 with a small PDU answers a long
/// list: the first unit (data-unit reference `dref`, "last data unit: no") carries the
/// list head and the records up to payload byte `cut`; the client then sends a follow-up
/// request (8-byte head, method 0x12, data `0A 00 00 00`, PDU reference `ref2`), and the
/// closing unit (same `dref`, "last data unit: yes") carries the rest of the payload.
/// Returns (first unit, follow-up request, closing unit).
#[allow(clippy::too_many_arguments)]
pub fn szl_resp_split(
    ref1: u16,
    ref2: u16,
    seq: u8,
    dref: u8,
    id: u16,
    index: u16,
    rec_len: u16,
    records: &[Vec<u8>],
    cut: usize,
) -> (Vec<u8>, Vec<u8>, Vec<u8>) {
    let p = szl_payload(id, index, rec_len, records);
    let cut = cut.min(p.len());
    let head = |last: u8| vec![0x00, 0x01, 0x12, 0x08, 0x12, 0x80 | group::CPU, 0x01, seq, dref, last, 0x00, 0x00];
    let first = userdata(ref1, &head(1), &ud_data(0xFF, 0x09, &p[..cut]));
    let follow =
        userdata(ref2, &[0x00, 0x01, 0x12, 0x08, 0x12, 0x40 | group::CPU, 0x01, seq, 0, 0, 0, 0], &ud_no_data());
    let last = userdata(ref2, &head(0), &ud_data(0xFF, 0x09, &p[cut..]));
    (first, follow, last)
}

fn padded(text: &str, n: usize, fill: u8) -> Vec<u8> {
    let mut v = text.as_bytes().to_vec();
    v.resize(n, fill);
    v
}

/// SZL 0x0011 (module identification) records, 28 bytes each:
/// `index(2) | MlfB order number (20 ASCII) | BGTyp(2) | Ausbg(2) | Ausbe(2)`.
/// Index 1 module, 6 basic hardware, 7 basic firmware (MlfB blank, Ausbg = 'V' major, Ausbe = minor patch).
pub fn szl_0011_records(order_no: &str, fw: (u8, u8, u8)) -> Vec<Vec<u8>> {
    let rec = |idx: u16, mlfb: &str, bg: u16, ausbg: u16, ausbe: u16| {
        let mut r = idx.to_be_bytes().to_vec();
        r.extend(padded(mlfb, 20, b' '));
        r.extend_from_slice(&bg.to_be_bytes());
        r.extend_from_slice(&ausbg.to_be_bytes());
        r.extend_from_slice(&ausbe.to_be_bytes());
        r
    };
    vec![
        rec(0x0001, order_no, 0x0000, 0x0001, 0x0001),
        rec(0x0006, order_no, 0x0000, 0x0001, 0x0001),
        rec(0x0007, "", 0x0000, u16::from_be_bytes([b'V', fw.0]), u16::from_be_bytes([fw.1, fw.2])),
    ]
}

/// SZL 0x001C (component identification) records, 34 bytes each: `index(2) | text (32, NUL padded)`.
/// Index 1 automation system name, 2 module name, 3 plant designation, 4 copyright,
/// 5 serial number, 7 module type name.
pub fn szl_001c_records(system: &str, module: &str, plant: &str, serial: &str, type_name: &str) -> Vec<Vec<u8>> {
    let rec = |idx: u16, text: &str| {
        let mut r = idx.to_be_bytes().to_vec();
        r.extend(padded(text, 32, 0));
        r
    };
    vec![
        rec(1, system),
        rec(2, module),
        rec(3, plant),
        rec(4, "Original Siemens Equipment"),
        rec(5, serial),
        rec(7, type_name),
    ]
}

fn bcd(v: u32) -> u8 {
    (((v / 10) % 10) << 4 | (v % 10)) as u8
}

/// S7 date-and-time, 10 bytes BCD: `reserved 00 | century | year | month | day | hour | minute |
/// second | msec (3 digits) + weekday (1 = Sunday)`.
#[allow(clippy::too_many_arguments)]
pub fn s7_time(y: u32, mo: u32, d: u32, h: u32, mi: u32, s: u32, ms: u32, weekday: u8) -> Vec<u8> {
    vec![
        0x00,
        bcd(y / 100),
        bcd(y % 100),
        bcd(mo),
        bcd(d),
        bcd(h),
        bcd(mi),
        bcd(s),
        bcd(ms / 10),
        ((ms % 10) as u8) << 4 | (weekday & 0x0F),
    ]
}

/// Read clock request (group 7 subfunction 1) frame.
pub fn clock_read_req(pdu_ref: u16, seq: u8) -> Vec<u8> {
    userdata(pdu_ref, &ud_req_param(group::TIME, 0x01, seq), &ud_no_data())
}

/// Read clock response frame: data `FF 09 00 0A | 10-byte time`.
pub fn clock_read_resp(pdu_ref: u16, seq: u8, time: &[u8]) -> Vec<u8> {
    userdata(pdu_ref, &ud_resp_param(group::TIME, 0x01, seq, 0), &ud_data(0xFF, 0x09, time))
}

/// Set clock request (group 7 subfunction 2) frame: data `FF 09 00 0A | 10-byte time`.
pub fn clock_set_req(pdu_ref: u16, seq: u8, time: &[u8]) -> Vec<u8> {
    userdata(pdu_ref, &ud_req_param(group::TIME, 0x02, seq), &ud_data(0xFF, 0x09, time))
}

/// Set clock response frame (data `0A 00 00 00`).
pub fn clock_set_resp(pdu_ref: u16, seq: u8) -> Vec<u8> {
    userdata(pdu_ref, &ud_resp_param(group::TIME, 0x02, seq, 0), &ud_no_data())
}

/// The 8-byte S7 password encoding: pad to 8 with spaces, XOR the first two bytes with 0x55 and
/// each later byte with 0x55 and the encoded byte two places before.
pub fn encode_password(pw: &str) -> [u8; 8] {
    let mut p = [b' '; 8];
    for (d, s) in p.iter_mut().zip(pw.bytes()) {
        *d = s;
    }
    let mut e = [0u8; 8];
    for i in 0..8 {
        e[i] = if i < 2 { p[i] ^ 0x55 } else { p[i] ^ 0x55 ^ e[i - 2] };
    }
    e
}

/// PLC password request (group 5 subfunction 1) frame: data `FF 09 00 08 | encoded password`.
pub fn password_req(pdu_ref: u16, seq: u8, pw: &str) -> Vec<u8> {
    userdata(pdu_ref, &ud_req_param(group::SECURITY, 0x01, seq), &ud_data(0xFF, 0x09, &encode_password(pw)))
}

/// PLC password response frame; `err` 0 accepted, 0xD602 wrong password.
pub fn password_resp(pdu_ref: u16, seq: u8, err: u16) -> Vec<u8> {
    userdata(pdu_ref, &ud_resp_param(group::SECURITY, 0x01, seq, err), &ud_no_data())
}

/// Memory reset request (group 1 programmer commands, subfunction 0x0C) frame.
pub fn memory_reset_req(pdu_ref: u16, seq: u8) -> Vec<u8> {
    userdata(pdu_ref, &ud_req_param(group::PROG, 0x0C, seq), &ud_no_data())
}

/// Memory reset response frame.
pub fn memory_reset_resp(pdu_ref: u16, seq: u8) -> Vec<u8> {
    userdata(pdu_ref, &ud_resp_param(group::PROG, 0x0C, seq, 0), &ud_no_data())
}

/// Userdata programmer-command request (group 1) with subfunction `sub`
/// (e.g. 0x09 force, 0x0A breakpoint), no data; the data layout of a real
/// force job is not reproduced.
pub fn programmer_req(pdu_ref: u16, seq: u8, sub: u8) -> Vec<u8> {
    userdata(pdu_ref, &ud_req_param(group::PROG, sub, seq), &ud_no_data())
}

/// Programmer-command response (error 0x0000).
pub fn programmer_resp(pdu_ref: u16, seq: u8, sub: u8) -> Vec<u8> {
    userdata(pdu_ref, &ud_resp_param(group::PROG, sub, seq, 0), &ud_no_data())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plc_stop_frame_matches_research_bytes() {
        // research/advisories-and-wire-format.md §2.3: the libnodave / ISF stop frame.
        let f = job(0x0600, &plc_stop_param(), &[]);
        let expect = b"\x03\x00\x00\x21\x02\xf0\x80\x32\x01\x00\x00\x06\x00\x00\x10\x00\x00\
                       \x29\x00\x00\x00\x00\x00\x09P_PROGRAM";
        assert_eq!(f, expect.to_vec());
    }

    #[test]
    fn classic_cr_layout() {
        let f = cr(0x0014, &tsap(1, 0, 1), &tsap(1, 0, 1));
        assert_eq!(f.len(), 0x16);
        assert_eq!(&f[..4], &[3, 0, 0, 0x16]);
        assert_eq!(f[4], 0x11);
        assert_eq!(f[5], 0xE0);
    }

    #[test]
    fn setup_comm_matches_isf() {
        // ISF: 32 01 0000 0200 0008 0000 F0 00 0002 0002 01E0
        let p = s7_pdu(JOB, 0x0200, &setup_comm_param(2, 2, 480), &[], 0);
        assert_eq!(p, vec![0x32, 1, 0, 0, 2, 0, 0, 8, 0, 0, 0xF0, 0, 0, 2, 0, 2, 1, 0xE0]);
    }

    #[test]
    fn any_item_and_lengths_consistent() {
        let i = AnyItem::db_word(1, 4);
        assert_eq!(i.bytes(), [0x12, 0x0A, 0x10, 0x04, 0, 1, 0, 1, 0x84, 0, 0, 0x20]);
        let f = read_var_ack(5, &[&[1, 2, 3], &[4]]);
        // TPKT length = 4 + 3 + 12 + plen + dlen
        let plen = u16::from_be_bytes([f[13], f[14]]) as usize;
        let dlen = u16::from_be_bytes([f[15], f[16]]) as usize;
        assert_eq!(f.len(), 4 + 3 + 12 + plen + dlen);
        assert_eq!(u16::from_be_bytes([f[2], f[3]]) as usize, f.len());
    }

    #[test]
    fn password_encoding_inverts() {
        let e = encode_password("secret");
        let mut d = [0u8; 8];
        for i in 0..8 {
            d[i] = if i < 2 { e[i] ^ 0x55 } else { e[i] ^ 0x55 ^ e[i - 2] };
        }
        assert_eq!(&d, b"secret  ");
    }

    #[test]
    fn fragmented_dt_sets_eot_on_last_only() {
        let pdu = s7_pdu(JOB, 1, &setup_comm_param(1, 1, 240), &[], 0);
        let f = dt_fragmented(&pdu, &[5, 11]);
        let mut off = 0;
        let mut eots = Vec::new();
        let mut joined = Vec::new();
        while off < f.len() {
            let len = u16::from_be_bytes([f[off + 2], f[off + 3]]) as usize;
            eots.push(f[off + 6] & 0x80 != 0);
            joined.extend_from_slice(&f[off + 7..off + len]);
            off += len;
        }
        assert_eq!(eots, vec![false, false, true]);
        assert_eq!(joined, pdu);
        assert_eq!(block_file(block::OB, 1, 'P'), "_0800001P");
        assert_eq!(s7_time(2026, 1, 1, 12, 34, 56, 789, 5), vec![0, 0x20, 0x26, 1, 1, 0x12, 0x34, 0x56, 0x78, 0x95]);
    }
}
