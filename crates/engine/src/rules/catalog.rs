//! The rule catalogue: stable ids, categories, default severities,
//! descriptions and references. `s7sentry rules` prints it.

use super::alert::{Category, Severity};

/// One rule's description.
#[derive(Debug, Clone, Copy)]
pub struct RuleInfo {
    /// Stable id (`family.name`).
    pub id: &'static str,
    /// Category. Control rules report `unauthorized_control` here and switch to
    /// `control_operation` (info) when the source is an engineering station.
    pub category: Category,
    /// Default severity.
    pub severity: Severity,
    /// What it matches, in one or two sentences.
    pub description: &'static str,
    /// CVE ids.
    pub cve: &'static [&'static str],
    /// Other references (advisories, specs).
    pub references: &'static [&'static str],
}

/// How repeats of a rule are folded into follow-up alerts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Aggregation {
    /// Every occurrence is its own alert.
    Never,
    /// The first occurrence between two hosts alerts at once; repeats within
    /// `aggregate_seconds` are reported in one follow-up listing their frames.
    PerPair,
}

impl Aggregation {
    /// What `s7sentry rules` prints.
    pub fn describe(self) -> &'static str {
        match self {
            Aggregation::Never => "never folded: every occurrence is its own alert",
            Aggregation::PerPair => "first occurrence per (rule, source, destination) at once; repeats within aggregate_seconds in one follow-up (count, first and last time, first 32 frames)",
        }
    }
}

impl RuleInfo {
    /// Aggregation of this rule: control operations (each STOP, START,
    /// download, delete... with its outcome), loss of communication, TLS and
    /// baseline changes are never folded; password attempts and every other
    /// rule fold per source and destination (PLC-wide flood rules use the
    /// unspecified address as source, so spoofed sources give one alert).
    pub fn aggregation(&self) -> Aggregation {
        match self.category {
            Category::LossOfCommunication | Category::Uninspectable | Category::Baseline => Aggregation::Never,
            Category::UnauthorizedControl | Category::ControlOperation
                if !matches!(self.id, "control.password" | "control.password_rejected") =>
            {
                Aggregation::Never
            }
            _ => Aggregation::PerPair,
        }
    }
}

/// Index of a rule in [`RULES`] (compile-time constants below).
pub type RuleId = usize;

macro_rules! rules {
    ($( $konst:ident = { $id:literal, $cat:ident, $sev:ident, $desc:literal, [$($cve:literal),*], [$($rf:literal),*] } )*) => {
        /// Every rule.
        pub const RULES: &[RuleInfo] = &[
            $( RuleInfo { id: $id, category: Category::$cat, severity: Severity::$sev, description: $desc,
                          cve: &[$($cve),*], references: &[$($rf),*] }, )*
        ];
        rules!(@idx 0usize; $($konst)*);
    };
    (@idx $n:expr; $k:ident $($rest:ident)*) => {
        #[doc = "Catalogue index."]
        pub const $k: RuleId = $n;
        rules!(@idx $n + 1usize; $($rest)*);
    };
    (@idx $n:expr;) => {};
}

rules! {
    MAL_TPKT = { "malformed.tpkt", Malformed, Medium,
        "TPKT header that RFC 1006 does not allow: version other than 3, reserved byte not 0, or length below 7.",
        [], ["RFC 1006 https://www.rfc-editor.org/rfc/rfc1006 §6", "SSA-592380 https://cert-portal.siemens.com/productcert/html/ssa-592380.html", "ICSA-23-348-09 https://www.cisa.gov/news-events/ics-advisories/icsa-23-348-09", "CVE-2023-46156 https://nvd.nist.gov/vuln/detail/CVE-2023-46156"] }
    MAL_COTP = { "malformed.cotp", Malformed, Medium,
        "COTP TPDU that violates ISO 8073 as S7 uses it: length indicator beyond the TPKT, unknown TPDU code, DT with length indicator other than 2, CR without calling/called TSAP or with an oversized TSAP, parameters running past the header, a DT reassembly over its cap, or a DT longer than the TPDU size the Connect Confirm negotiated (decoded all the same: the PLC may drop what the sensor decodes).",
        [], ["ISO 8073 / ITU-T X.224 https://www.itu.int/rec/T-REC-X.224", "SSA-838121 https://cert-portal.siemens.com/productcert/html/ssa-838121.html", "ICSA-22-041-01 https://www.cisa.gov/news-events/ics-advisories/icsa-22-041-01", "CVE-2021-37185 https://nvd.nist.gov/vuln/detail/CVE-2021-37185", "CVE-2021-37204 https://nvd.nist.gov/vuln/detail/CVE-2021-37204", "CVE-2021-37205 https://nvd.nist.gov/vuln/detail/CVE-2021-37205", "SSA-382653 https://cert-portal.siemens.com/productcert/html/ssa-382653.html", "ICSA-22-349-03 https://www.cisa.gov/news-events/ics-advisories/icsa-22-349-03", "CVE-2021-40365 https://nvd.nist.gov/vuln/detail/CVE-2021-40365"] }
    MAL_S7 = { "malformed.s7comm", Malformed, Medium,
        "S7comm PDU whose structure is inconsistent: header lengths that do not match the bytes present, unknown ROSCTR, unknown function, item counts that promise more items than the parameter holds, inconsistent items, a PI service job in a non-standard layout (e.g. python-snap7's `_DELE`), or a client's userdata PDU not typed request (type nibble other than 4).",
        [], ["SSA-592380 https://cert-portal.siemens.com/productcert/html/ssa-592380.html", "ICSA-23-348-09 https://www.cisa.gov/news-events/ics-advisories/icsa-23-348-09", "CVE-2023-46156 https://nvd.nist.gov/vuln/detail/CVE-2023-46156", "SSA-838121 https://cert-portal.siemens.com/productcert/html/ssa-838121.html", "ICSA-22-041-01 https://www.cisa.gov/news-events/ics-advisories/icsa-22-041-01", "CVE-2021-37185 https://nvd.nist.gov/vuln/detail/CVE-2021-37185", "CVE-2021-37204 https://nvd.nist.gov/vuln/detail/CVE-2021-37204", "CVE-2021-37205 https://nvd.nist.gov/vuln/detail/CVE-2021-37205", "SSA-382653 https://cert-portal.siemens.com/productcert/html/ssa-382653.html", "ICSA-22-349-03 https://www.cisa.gov/news-events/ics-advisories/icsa-22-349-03", "CVE-2021-40365 https://nvd.nist.gov/vuln/detail/CVE-2021-40365"] }
    MAL_S7PLUS = { "malformed.s7comm_plus", Malformed, Medium,
        "S7comm-plus frame with an unknown protocol version, a data length beyond the frame, a bad trailer or an integrity digest length other than 32, or a write split over frames and cut by the reassembly cap before its addresses could be read.",
        [], ["SSA-592380 https://cert-portal.siemens.com/productcert/html/ssa-592380.html", "ICSA-23-348-09 https://www.cisa.gov/news-events/ics-advisories/icsa-23-348-09", "CVE-2023-46156 https://nvd.nist.gov/vuln/detail/CVE-2023-46156", "SSA-838121 https://cert-portal.siemens.com/productcert/html/ssa-838121.html", "ICSA-22-041-01 https://www.cisa.gov/news-events/ics-advisories/icsa-22-041-01", "CVE-2021-37185 https://nvd.nist.gov/vuln/detail/CVE-2021-37185", "CVE-2021-37204 https://nvd.nist.gov/vuln/detail/CVE-2021-37204", "CVE-2021-37205 https://nvd.nist.gov/vuln/detail/CVE-2021-37205"] }
    MAL_UNKNOWN_PROTO = { "malformed.unknown_protocol", Malformed, Low,
        "COTP data on port 102 that is neither S7comm (0x32) nor S7comm-plus (0x72) on a connection that did not switch to TLS. IEC 61850 MMS also uses port 102: switch this rule off where MMS runs.",
        [], ["Wireshark S7comm dissector https://gitlab.com/wireshark/wireshark/-/blob/master/epan/dissectors/packet-s7comm.c", "IEC 61850-8-1 (MMS over ISO-on-TCP, also port 102)"] }
    MAL_INCOMPLETE = { "malformed.incomplete_tpkt", Malformed, Medium,
        "A connection was closed (FIN/RST) while a TPKT was only partly sent.",
        [], ["RFC 1006 https://www.rfc-editor.org/rfc/rfc1006"] }
    MAL_OVERLAP = { "malformed.tcp_overlap", Malformed, High,
        "A TCP retransmission or overlap toward or from port 102 carries bytes different from the first copy: an IDS-evasion technique (the sensor keeps the first copy).",
        [], ["Ptacek & Newsham 1998, Insertion, Evasion, and Denial of Service: Eluding Network Intrusion Detection"] }
    CRASH_COTP_DR = { "crash_pattern.cotp_dr", CrashPattern, High,
        "COTP Disconnect Request carrying bytes beyond its fixed part and parameters, or sent before any Connect Confirm on the connection.",
        ["CVE-2025-40944"], ["ICSA-26-015-04 https://www.cisa.gov/news-events/ics-advisories/icsa-26-015-04", "CVE-2025-40944 https://nvd.nist.gov/vuln/detail/CVE-2025-40944"] }
    CRASH_TCP_SHORT = { "crash_pattern.tcp_short_header", CrashPattern, High,
        "TCP segment to or from port 102 whose data offset is below 5 (header shorter than 20 bytes).",
        ["CVE-2022-25622"], ["ICSA-22-104-06 https://www.cisa.gov/news-events/ics-advisories/icsa-22-104-06", "SSA-446448 https://cert-portal.siemens.com/productcert/html/ssa-446448.html", "CVE-2022-25622 https://nvd.nist.gov/vuln/detail/CVE-2022-25622"] }
    CRASH_IP_FRAG = { "crash_pattern.ip_fragment", CrashPattern, Medium,
        "IP fragments sent toward a PLC (a known PLC, or a host seen serving port 102).",
        ["CVE-2024-23814"], ["ICSA-25-105-03 https://www.cisa.gov/news-events/ics-advisories/icsa-25-105-03", "SSA-725549 https://cert-portal.siemens.com/productcert/html/ssa-725549.html", "CVE-2024-23814 https://nvd.nist.gov/vuln/detail/CVE-2024-23814"] }
    CRASH_VAR_ITEMS = { "crash_pattern.var_item_count", CrashPattern, High,
        "Read/Write Var job with item count 0, more items than the negotiated PDU can carry, or requesting far more bytes than the negotiated PDU size (the malformed-request class that crashed S7 stacks).",
        [], ["SSA-592380 https://cert-portal.siemens.com/productcert/html/ssa-592380.html", "ICSA-23-348-09 https://www.cisa.gov/news-events/ics-advisories/icsa-23-348-09", "CVE-2023-46156 https://nvd.nist.gov/vuln/detail/CVE-2023-46156", "SSA-382653 https://cert-portal.siemens.com/productcert/html/ssa-382653.html", "ICSA-22-349-03 https://www.cisa.gov/news-events/ics-advisories/icsa-22-349-03", "CVE-2021-40365 https://nvd.nist.gov/vuln/detail/CVE-2021-40365"] }
    CRASH_SETUP = { "crash_pattern.setup_comm", CrashPattern, High,
        "Setup Communication asking for an absurd PDU size or AmQ (parallel jobs), or a PDU size too small to carry any job.",
        [], ["SSA-592380 https://cert-portal.siemens.com/productcert/html/ssa-592380.html", "ICSA-23-348-09 https://www.cisa.gov/news-events/ics-advisories/icsa-23-348-09", "CVE-2023-46156 https://nvd.nist.gov/vuln/detail/CVE-2023-46156", "SSA-382653 https://cert-portal.siemens.com/productcert/html/ssa-382653.html", "ICSA-22-349-03 https://www.cisa.gov/news-events/ics-advisories/icsa-22-349-03", "CVE-2021-40365 https://nvd.nist.gov/vuln/detail/CVE-2021-40365"] }
    CTL_STOP = { "control.cpu_stop", UnauthorizedControl, Critical,
        "S7comm PLC Stop job (function 0x29, usually P_PROGRAM).",
        [], ["MITRE ATT&CK for ICS T0858 Change Operating Mode https://attack.mitre.org/techniques/T0858/", "ISF exploit modules s7_300_400_plc_control / s7_1200_plc_control https://github.com/dark-lbp/isf", "snap7 client (Cli_PlcStop, Cli_PlcHotStart) https://snap7.sourceforge.net/"] }
    CTL_START = { "control.cpu_start", UnauthorizedControl, High,
        "S7comm PI service P_PROGRAM (hot or cold start of the CPU).",
        [], ["MITRE ATT&CK for ICS T0858 Change Operating Mode https://attack.mitre.org/techniques/T0858/", "ISF exploit modules s7_300_400_plc_control / s7_1200_plc_control https://github.com/dark-lbp/isf", "snap7 client (Cli_PlcStop, Cli_PlcHotStart) https://snap7.sourceforge.net/"] }
    CTL_PI = { "control.pi_service", UnauthorizedControl, High,
        "S7comm PI service that changes the program or memory: _INSE/_INS2 (activate downloaded block), _MODU (copy RAM to ROM), _GARB (compress memory), or another PI service; recognised by its name in the standard layout, in python-snap7's, or anywhere in the parameter.",
        [], ["MITRE ATT&CK for ICS T0821 Modify Controller Tasking https://attack.mitre.org/techniques/T0821/", "MITRE ATT&CK for ICS T0889 Modify Program https://attack.mitre.org/techniques/T0889/", "PLCinject (Klick et al., Black Hat USA 2015)"] }
    CTL_DELETE = { "control.block_delete", UnauthorizedControl, Critical,
        "S7comm PI service _DELE: delete blocks from the CPU.",
        [], ["MITRE ATT&CK for ICS T0809 Data Destruction https://attack.mitre.org/techniques/T0809/", "MITRE ATT&CK for ICS T0889 Modify Program https://attack.mitre.org/techniques/T0889/"] }
    CTL_DOWNLOAD = { "control.block_download", UnauthorizedControl, Critical,
        "S7comm block download (Request Download 0x1A / Download Block 0x1B / Download Ended 0x1C): program change.",
        [], ["MITRE ATT&CK for ICS T0843 Program Download https://attack.mitre.org/techniques/T0843/", "PLCinject (Klick et al., Black Hat USA 2015)"] }
    CTL_UPLOAD = { "control.block_upload", UnauthorizedControl, High,
        "S7comm block upload (Start Upload 0x1D): program read-out, the step before an injection.",
        [], ["MITRE ATT&CK for ICS T0845 Program Upload https://attack.mitre.org/techniques/T0845/", "PLCinject (Klick et al., Black Hat USA 2015)"] }
    CTL_MRES = { "control.memory_reset", UnauthorizedControl, Critical,
        "S7comm userdata programmer command memory reset (group 1, subfunction 0x0C), whatever the type nibble.",
        [], ["MITRE ATT&CK for ICS T0809 Data Destruction https://attack.mitre.org/techniques/T0809/", "MITRE ATT&CK for ICS T0858 Change Operating Mode https://attack.mitre.org/techniques/T0858/"] }
    CTL_CLOCK = { "control.clock_set", UnauthorizedControl, Medium,
        "S7comm userdata set clock (group 7, subfunction 2 or 4), whatever the type nibble.",
        [], ["MITRE ATT&CK for ICS T0836 Modify Parameter https://attack.mitre.org/techniques/T0836/"] }
    CTL_PASSWORD = { "control.password", UnauthorizedControl, High,
        "PLC password / legitimation attempt (S7comm userdata group 5 subfunction 1 whatever the type nibble, or S7comm-plus SetVariable on the session's legitimation attribute).",
        [], ["MITRE ATT&CK for ICS T0859 Valid Accounts https://attack.mitre.org/techniques/T0859/"] }
    CTL_PASSWORD_REJECTED = { "control.password_rejected", UnauthorizedControl, High,
        "The PLC answered a password attempt with 'wrong password' (error 0xD602): guessing.",
        [], ["MITRE ATT&CK for ICS T0859 Valid Accounts https://attack.mitre.org/techniques/T0859/"] }
    CTL_PLUS_STATE = { "control.s7plus_operating_state", UnauthorizedControl, Critical,
        "S7comm-plus write of the CPU execution unit's operating-state request (object 52, attribute 2167): SetVariable or SetMultiVariables (any item, or an item address on area 52), the message joined when split over frames, the value in any integer encoding: 1 = STOP, 3 = RUN; reported even when the value cannot be read.",
        [], ["MITRE ATT&CK for ICS T0858 Change Operating Mode https://attack.mitre.org/techniques/T0858/", "ISF exploit modules s7_300_400_plc_control / s7_1200_plc_control https://github.com/dark-lbp/isf", "Rogue7 (Biham et al., Black Hat USA 2019)", "ICSA-19-344-06 https://www.cisa.gov/news-events/ics-advisories/icsa-19-344-06", "CVE-2019-10929 https://nvd.nist.gov/vuln/detail/CVE-2019-10929"] }
    CTL_ENGINEERING = { "control.engineering_session", UnauthorizedControl, High,
        "Programming-device (engineering) session: S7comm-plus connect to TSAP SIMATIC-ROOT-ES (TIA Portal online access), or the S7comm job-list query STEP 7 / TIA Portal issue when going online (userdata group 1, subfunction 0x10).",
        [], ["MITRE ATT&CK for ICS T0886 Remote Services https://attack.mitre.org/techniques/T0886/", "Wireshark S7comm dissector https://gitlab.com/wireshark/wireshark/-/blob/master/epan/dissectors/packet-s7comm.c"] }
    CTL_PROGRAMMER = { "control.programmer_command", UnauthorizedControl, High,
        "S7comm programmer command that changes execution: force (group 1 subfunction 0x09), breakpoint (0x0A), exit HOLD (0x0B), replace job (0x12).",
        [], ["MITRE ATT&CK for ICS T0835 Manipulate I/O Image https://attack.mitre.org/techniques/T0835/", "MITRE ATT&CK for ICS T0821 Modify Controller Tasking https://attack.mitre.org/techniques/T0821/"] }
    CTL_PLUS_PROGRAM = { "control.s7plus_engineering_operation", UnauthorizedControl, High,
        "S7comm-plus engineering transaction: BeginSequence/EndSequence, or DeleteObject of a program-transfer object (not a session object) — what TIA Portal does to download or upload a program.",
        [], ["MITRE ATT&CK for ICS T0843 Program Download https://attack.mitre.org/techniques/T0843/", "MITRE ATT&CK for ICS T0845 Program Upload https://attack.mitre.org/techniques/T0845/", "Rogue7 (Biham et al., Black Hat USA 2019)", "ICSA-19-344-06 https://www.cisa.gov/news-events/ics-advisories/icsa-19-344-06", "CVE-2019-10929 https://nvd.nist.gov/vuln/detail/CVE-2019-10929"] }
    CTL_CONFIRMED = { "control.confirmed_without_request", UnauthorizedControl, High,
        "The PLC acknowledged a control function that no request on the wire explains, or whose request the sensor could not decode: a positive Ack_Data of PLC Stop (0x29), PI service (0x28), Request Download (0x1A) or Start Upload (0x1D), a positive userdata response of memory reset, programmer command, password or set clock, or an S7comm-plus SetVariable / SetMultiVariables success (the answer an operating-state write gets). Requests and answers pair by PDU reference (sequence number) and function. Whatever hid the request (capture gap, overlap, odd layout), the PLC's answer gives it away: possible evasion. Evidence: answer frame, function, reference, the unexplained request's frame when one was seen, and the last capture gap / overlap conflict / unparsed bytes in the client's direction. Not raised for answers on a connection picked up mid-stream until one answer has paired with a request.",
        [], ["Ptacek & Newsham 1998, Insertion, Evasion, and Denial of Service: Eluding Network Intrusion Detection", "MITRE ATT&CK for ICS T0820 Exploitation for Evasion https://attack.mitre.org/techniques/T0820/", "MITRE ATT&CK for ICS T0858 Change Operating Mode https://attack.mitre.org/techniques/T0858/"] }
    FLOOD_SYN = { "flood.syn", Flood, High,
        "SYNs toward one PLC's port 102 above the configured rate.",
        ["CVE-2018-13815"], ["ICSA-18-317-05 https://www.cisa.gov/news-events/ics-advisories/icsa-18-317-05", "SSA-584286 https://cert-portal.siemens.com/productcert/html/ssa-584286.html", "CVE-2018-13815 https://nvd.nist.gov/vuln/detail/CVE-2018-13815", "MITRE ATT&CK for ICS T0814 Denial of Service https://attack.mitre.org/techniques/T0814/"] }
    FLOOD_HALF_OPEN = { "flood.half_open", Flood, High,
        "Half-open connections (SYN without data) to one PLC above the configured count.",
        ["CVE-2018-13815"], ["ICSA-18-317-05 https://www.cisa.gov/news-events/ics-advisories/icsa-18-317-05", "SSA-584286 https://cert-portal.siemens.com/productcert/html/ssa-584286.html", "CVE-2018-13815 https://nvd.nist.gov/vuln/detail/CVE-2018-13815"] }
    FLOOD_CONN = { "flood.connection_exhaustion", Flood, High,
        "Too many concurrent or new ISO-on-TCP (COTP) connections to one PLC, from one source or in total: connection-resource exhaustion.",
        ["CVE-2018-13815"], ["ICSA-18-317-05 https://www.cisa.gov/news-events/ics-advisories/icsa-18-317-05", "SSA-584286 https://cert-portal.siemens.com/productcert/html/ssa-584286.html", "CVE-2018-13815 https://nvd.nist.gov/vuln/detail/CVE-2018-13815"] }
    FLOOD_SETUP = { "flood.setup_comm", Flood, High,
        "Setup Communication jobs to one PLC above the configured rate.",
        [], ["MITRE ATT&CK for ICS T0814 Denial of Service https://attack.mitre.org/techniques/T0814/", "SSA-584286 https://cert-portal.siemens.com/productcert/html/ssa-584286.html", "ICSA-18-317-05 https://www.cisa.gov/news-events/ics-advisories/icsa-18-317-05", "CVE-2018-13815 https://nvd.nist.gov/vuln/detail/CVE-2018-13815"] }
    FLOOD_AMQ = { "flood.amq_exceeded", Flood, Medium,
        "More unanswered jobs in parallel on one connection than the AmQ the PLC granted in Setup Communication. Judged by the PLC's answers (evidence verdict): every excess job answered is client pipelining, recorded at info; a refused job, jobs left unanswered past the response timeout, or an excess above amq_gross_factor x AmQ + amq_slack is a flood at the rule's severity.",
        [], ["MITRE ATT&CK for ICS T0814 Denial of Service https://attack.mitre.org/techniques/T0814/", "Wireshark S7comm dissector https://gitlab.com/wireshark/wireshark/-/blob/master/epan/dissectors/packet-s7comm.c"] }
    FLOOD_REQ = { "flood.requests", Flood, High,
        "Jobs (writes above all) from one connection above the one-second thresholds (writes_per_second, jobs_per_second), or a request storm: a rate held for storm_seconds in a row per (talker, PLC) and class (write, read, other), judged (evidence basis) against the plant default (sustained), a lower rate writing the same items and values again and again (repetition), or, after the baseline froze, a multiple of the rate the talker held while it learned (learned_rate).",
        [], ["MITRE ATT&CK for ICS T0814 Denial of Service https://attack.mitre.org/techniques/T0814/", "MITRE ATT&CK for ICS T0806 Brute Force I/O https://attack.mitre.org/techniques/T0806/"] }
    FLOOD_RST = { "flood.rst_storm", Flood, Medium,
        "TCP RST segments involving one PLC's port 102 above the configured rate.",
        ["CVE-2025-40820"], ["ICSA-25-352-05 https://www.cisa.gov/news-events/ics-advisories/icsa-25-352-05", "CVE-2025-40820 https://nvd.nist.gov/vuln/detail/CVE-2025-40820"] }
    LOSS_UNRESPONSIVE = { "loss_of_communication.plc_unresponsive", LossOfCommunication, High,
        "A PLC that was answering leaves requests unanswered beyond the timeout while clients keep trying (unanswered jobs, retransmissions, SYNs without SYN-ACK, CRs without CC). Answers are measured at the S7 layer (COTP CC, S7comm and S7comm-plus answers): a PLC whose TCP stack still sends SYN-ACKs while its S7 service is silent is reported as such (evidence tcp_alive, syn_acks_while_silent). Lists the suspect inbound packets that preceded the outage: the probable-crash signal.",
        ["CVE-2023-46156", "CVE-2021-37185", "CVE-2021-37204", "CVE-2021-37205", "CVE-2021-40365"],
        ["ICSA-23-348-09 https://www.cisa.gov/news-events/ics-advisories/icsa-23-348-09", "SSA-592380 https://cert-portal.siemens.com/productcert/html/ssa-592380.html", "CVE-2023-46156 https://nvd.nist.gov/vuln/detail/CVE-2023-46156", "ICSA-22-041-01 https://www.cisa.gov/news-events/ics-advisories/icsa-22-041-01", "SSA-838121 https://cert-portal.siemens.com/productcert/html/ssa-838121.html", "CVE-2021-37185 https://nvd.nist.gov/vuln/detail/CVE-2021-37185", "CVE-2021-37204 https://nvd.nist.gov/vuln/detail/CVE-2021-37204", "CVE-2021-37205 https://nvd.nist.gov/vuln/detail/CVE-2021-37205", "ICSA-22-349-03 https://www.cisa.gov/news-events/ics-advisories/icsa-22-349-03", "SSA-382653 https://cert-portal.siemens.com/productcert/html/ssa-382653.html", "CVE-2021-40365 https://nvd.nist.gov/vuln/detail/CVE-2021-40365", "MITRE ATT&CK for ICS T0826 Loss of Availability https://attack.mitre.org/techniques/T0826/"] }
    LOSS_RECOVERED = { "loss_of_communication.plc_recovered", LossOfCommunication, Info,
        "A PLC that had stopped answering answers again at the S7 layer (a SYN-ACK alone is not recovery); carries the outage duration.",
        [], [] }
    TLS = { "uninspectable.tls", Uninspectable, Info,
        "An S7comm-plus connection switched to TLS: the PLC accepted InitSSL (return value 0) and a TLS handshake record followed. Its content cannot be inspected (reported once per connection). A refused InitSSL or TLS-looking bytes alone do not switch it.",
        [], ["Wireshark S7comm dissector https://gitlab.com/wireshark/wireshark/-/blob/master/epan/dissectors/packet-s7comm.c (S7comm-plus InitSSL)"] }
    ASSET_CHANGE = { "baseline.asset_change", Baseline, High,
        "With asset tracking on: a device reports a firmware version, order number or serial number different from the one it reported before (SZL 0x0011 / 0x001C answers, S7comm-plus session answers). A firmware update, a replaced CPU, or a device impersonating it. Evidence: field, old, new. V2.9 (S7comm-plus) and V2.9.2 (SZL) are the same version.",
        [], ["ICSA-23-348-09 https://www.cisa.gov/news-events/ics-advisories/icsa-23-348-09 (fixed firmware versions)", "SSA-592380 https://cert-portal.siemens.com/productcert/html/ssa-592380.html"] }
    NEW_TALKER = { "baseline.new_talker", Baseline, High,
        "After the baseline is frozen (--learn period over, or `baseline freeze`): a host that never talked to a PLC opens an ISO-on-TCP connection the PLC answers; or a new PLC answers on port 102 (graded at most medium). Once per new talker.",
        [], ["Kleinmann & Wool, Accurate Modeling of the Siemens S7 SCADA Protocol for Intrusion Detection and Digital Forensics, JDFSL 9(2) 2014", "MITRE ATT&CK for ICS T0886 Remote Services https://attack.mitre.org/techniques/T0886/"] }
    NEW_FUNCTION = { "baseline.new_function", Baseline, High,
        "After the baseline is frozen: a talker of the baseline uses a function it never used towards that PLC, or any talker uses a control function it never used. Control functions (STOP/START, download, delete, memory reset, password, clock set, ...) at the rule's severity, writes at most medium, reads and other functions at most low. Once per (talker, PLC, function).",
        [], ["MITRE ATT&CK for ICS T0888 Remote System Information Discovery https://attack.mitre.org/techniques/T0888/", "MITRE ATT&CK for ICS T0836 Modify Parameter https://attack.mitre.org/techniques/T0836/"] }
    EVA_IP_OVERLAP = { "evasion.ip_overlap_conflict", Evasion, High,
        "IP fragments (IPv4 or IPv6) to or from a PLC or port 102 that overlap with different bytes: targets resolve overlaps by different policies (first, last, BSD, Linux, Windows; RFC 5722 stacks drop the datagram), so the sensor and the PLC can see different requests. The sensor decodes the first-copy reassembly, and the last-copy reassembly too where it differs; the evidence holds both copies.",
        [], ["Ptacek & Newsham, Insertion, Evasion, and Denial of Service: Eluding Network Intrusion Detection, 1998, §4 (IP fragmentation)", "Novak, Target-Based Fragmentation Reassembly, 2005", "RFC 5722 https://www.rfc-editor.org/rfc/rfc5722"] }
    EVA_IP_TCP_HEADER = { "evasion.ip_tcp_header_overlap", Evasion, High,
        "An overlapping IP fragment gives bytes of the TCP header (ports, sequence numbers, data offset, flags, ...) other values than the first copy: the overlapping-fragment attack on header inspection. The evidence names the fields and both copies; both reassemblies are decoded.",
        [], ["RFC 1858 §4 https://www.rfc-editor.org/rfc/rfc1858", "RFC 3128 https://www.rfc-editor.org/rfc/rfc3128"] }
    EVA_IP_TINY = { "evasion.ip_tiny_fragment", Evasion, Medium,
        "A fragmented datagram to or from a PLC or port 102 whose first fragment does not carry the whole TCP header (for IPv6: the whole header chain): the tiny-fragment attack on header inspection. The sensor inspects after reassembly.",
        [], ["RFC 1858 §3 https://www.rfc-editor.org/rfc/rfc1858", "RFC 7112 https://www.rfc-editor.org/rfc/rfc7112"] }
    EVA_IP_LENGTH = { "evasion.ip_length_conflict", Evasion, High,
        "IP fragments of one datagram disagree on where it ends (two last fragments with different ends, or data beyond the end): targets keep either end or drop the datagram. The sensor keeps the first end seen.",
        [], ["RFC 791 https://www.rfc-editor.org/rfc/rfc791", "RFC 8200 §4.5 https://www.rfc-editor.org/rfc/rfc8200"] }
    EVA_IP_INCOMPLETE = { "evasion.ip_datagram_incomplete", Evasion, Medium,
        "A fragmented datagram to or from a PLC or port 102 still incomplete 60 s after its first fragment, or when the capture ends: its bytes were never inspected, and incomplete datagrams hold a PLC's reassembly memory. The sensor keeps the bytes 10 more minutes, room permitting, for late fragments.",
        ["CVE-2024-23814"], ["RFC 8200 §4.5 (60 s) https://www.rfc-editor.org/rfc/rfc8200", "SSA-725549 https://cert-portal.siemens.com/productcert/html/ssa-725549.html", "CVE-2024-23814 https://nvd.nist.gov/vuln/detail/CVE-2024-23814"] }
    EVA_IP_LATE = { "evasion.ip_late_fragment", Evasion, High,
        "A fragment arrived for a datagram the sensor had declared incomplete (after 60 s) or given up: fragments spaced beyond a sensor's reassembly timeout but within the target's evade a sensor that forgets. Says whether the earlier bytes were still held (the datagram is then decoded).",
        [], ["Ptacek & Newsham, Insertion, Evasion, and Denial of Service: Eluding Network Intrusion Detection, 1998, §4 (IP fragmentation)"] }
    EVA_IP_CAP = { "evasion.ip_reassembly_cap", Evasion, High,
        "IP reassembly gave bytes up because a cap was hit (1 024 datagrams, 8 MiB, 64 KiB per datagram): a fragment refused, or a partly reassembled datagram dropped to make room. Names the addresses and the bytes given up: a blind spot is never silent.",
        [], ["Ptacek & Newsham, Insertion, Evasion, and Denial of Service: Eluding Network Intrusion Detection, 1998, §5 (denial of service on the sensor)"] }
    EVA_STREAM_GAP = { "evasion.stream_gap", Evasion, Medium,
        "The sensor gave up bytes of a port-102 TCP stream (a hole before data it holds): it could not inspect them, whatever they carried. Graded: info when the receiver acknowledged the bytes (capture loss: the PLC got them, the sensor did not; SPAN ports and filtered captures lose packets, and a STOP hidden there is still given away by the PLC's answer, control.confirmed_without_request), medium when nobody acknowledged them when the connection closed or ended. Names the flow, the direction and the bytes lost; a hold-cap overflow is evasion.hold_cap. A blind spot is never silent.",
        [], ["Ptacek & Newsham, Insertion, Evasion, and Denial of Service: Eluding Network Intrusion Detection, 1998, §5", "Suricata stream-event:reassembly_seq_gap https://docs.suricata.io/en/latest/configuration/suricata-yaml.html#stream-engine"] }
    EVA_HOLD_CAP = { "evasion.hold_cap", Evasion, High,
        "More out-of-order data on a port-102 TCP stream than the sensor holds (32 segments or 64 KiB per direction, 256 MiB in all): the hole before it is declared lost and its bytes are never inspected. A sender that floods out-of-order segments blinds a sensor that gives up silently. Names the flow, the direction and the bytes lost.",
        [], ["Ptacek & Newsham, Insertion, Evasion, and Denial of Service: Eluding Network Intrusion Detection, 1998, §5 (denial of service on the sensor)", "Handley, Paxson & Kreibich, Network Intrusion Detection: Evasion, Traffic Normalization, and End-to-End Protocol Semantics, USENIX Security 2001"] }
    EVA_LATE_DATA = { "evasion.stream_late_data", Evasion, High,
        "Bytes arrived for a hole of a port-102 TCP stream that the sensor had already declared lost (after a hold-cap overflow or at an acknowledgement): a PLC that waited for them executes them, the sensor never inspects them. Not counted as a retransmission.",
        [], ["Ptacek & Newsham, Insertion, Evasion, and Denial of Service: Eluding Network Intrusion Detection, 1998, §5"] }
    EVA_OUT_OF_WINDOW = { "evasion.tcp_out_of_window", Evasion, Medium,
        "A data segment on a port-102 connection more than 1 MiB away from the next expected byte: outside any receive window a PLC advertises, the PLC drops it (RFC 9293 §3.10.7.4), and so does the sensor. Insertion attempt or a broken sender.",
        [], ["RFC 9293 §3.10.7.4 https://www.rfc-editor.org/rfc/rfc9293", "Ptacek & Newsham, Insertion, Evasion, and Denial of Service: Eluding Network Intrusion Detection, 1998, §3 (insertion)"] }
    EVA_CHECKSUM = { "evasion.tcp_checksum_conflict", Evasion, High,
        "A TCP segment with an invalid checksum (dropped by the PLC) carries other bytes than a valid copy of the same range: an insertion decoy. The sensor validates TCP checksums per direction once one valid checksum was seen, learns checksum offload on the capturing host (only invalid checksums) and then does not validate it; an invalid segment never enters the stream.",
        [], ["Ptacek & Newsham, Insertion, Evasion, and Denial of Service: Eluding Network Intrusion Detection, 1998, §3 (insertion)", "Suricata checksum-validation: auto https://docs.suricata.io/en/latest/configuration/suricata-yaml.html#stream-engine"] }
    EVA_SYN = { "evasion.tcp_syn_on_established", Evasion, Low,
        "A SYN on an established port-102 connection that the PLC's side did not answer with a SYN-ACK: the PLC answers with a challenge ACK and keeps the connection (RFC 5961 §4), and the sensor keeps the byte stream (a sensor that restarts it is blind). Also a SYN that anchored a connection picked up mid-stream and that the peer's acknowledgement contradicts.",
        [], ["RFC 5961 §4 https://www.rfc-editor.org/rfc/rfc5961", "RFC 9293 §3.10.7.4 https://www.rfc-editor.org/rfc/rfc9293"] }
    EVA_RST = { "evasion.tcp_rst_ignored", Evasion, Low,
        "An RST on a port-102 connection whose sequence number is not the next expected byte: inside the window the PLC answers with a challenge ACK, outside it drops the RST (RFC 5961 §3); the connection goes on and the sensor keeps following it (a sensor that accepts any RST is blinded by one).",
        [], ["RFC 5961 §3 https://www.rfc-editor.org/rfc/rfc5961"] }
}

/// Rule by id.
pub fn find(id: &str) -> Option<RuleId> {
    RULES.iter().position(|r| r.id == id)
}

#[cfg(test)]
mod tests {
    use super::*;
    #[test]
    fn ids_unique_and_prefixed() {
        for (i, r) in RULES.iter().enumerate() {
            assert_eq!(find(r.id), Some(i), "{}", r.id);
            let fam = r.id.split('.').next().unwrap();
            let ok = fam == "control" || fam == r.category.name();
            assert!(ok, "{}: family {fam} vs category {}", r.id, r.category.name());
        }
        assert_eq!(RULES[CTL_STOP].id, "control.cpu_stop");
        assert_eq!(RULES[TLS].id, "uninspectable.tls");
        assert_eq!(RULES[NEW_FUNCTION].id, "baseline.new_function");
    }
}
