//! `s7sentry`: passive sensor for Siemens S7 traffic (ISO-on-TCP, port 102).
//!
//! Thin binary: argument parsing and wiring over the library crates
//! (`s7sentry-capture` -> `s7sentry-engine` -> sinks).

use clap::{Parser, Subcommand, ValueEnum};
use std::path::PathBuf;
use std::process::ExitCode;

mod check_config;
mod decode;
mod input;
mod inventory;
mod live;
mod output;
mod privileges;
mod replay;
mod settings;
mod signals;
mod summary;
mod timeline;

/// Exit status: everything was read.
pub const EXIT_OK: u8 = 0;
/// Exit status: some input could not be read (truncated or corrupt capture).
pub const EXIT_PARTIAL: u8 = 1;
/// Exit status: usage error or a file that could not be opened at all.
pub const EXIT_USAGE: u8 = 2;
/// Exit status (`live`): the interface cannot be opened or the HTTP port is in use (a restart may help).
pub const EXIT_RUNTIME: u8 = 3;

#[derive(Parser, Debug)]
#[command(
    name = "s7sentry",
    version,
    about = "Passive sensor for Siemens S7 traffic (ISO-on-TCP, TCP port 102)",
    long_about = "Passive sensor for Siemens S7 traffic (ISO-on-TCP, TCP port 102).\n\n\
        Decodes TPKT (RFC 1006), COTP (ISO 8073), S7comm and S7comm-plus from capture files \
        (pcap or pcapng, any byte order, micro- or nanosecond, several interfaces with different \
        link types, plain or gzip / zstd compressed; Ethernet with or without VLAN/QinQ \
        tags, Linux cooked SLL/SLL2, BSD loopback, raw IP; IPv4 and IPv6), with TCP reassembly that survives \
        segmentation, retransmissions, overlaps, reordering and capture gaps.\n\n\
        Exit status: 0 all input read; 1 some input unreadable (truncated or corrupt capture, or \
        advisory files that do not load: everything else is still processed); 2 usage or \
        configuration error, or a file that cannot be opened (capture, configuration, state file): \
        restarting does not help; 3 (live) the interface cannot be opened or the HTTP port is in use.",
    after_help = "Examples:\n  s7sentry decode pcaps/decode_basic/capture.pcap\n  s7sentry decode --format text a.pcap b.pcapng\n  \
        s7sentry replay --format text --evidence ./evidence case.pcapng.gz\n  \
        s7sentry replay --continuous --alert-format eve /var/log/dumpcap/\n  \
        s7sentry timeline --plc 10.10.1.10 case.pcap\n  \
        s7sentry replay --state plant.db --learn 1h monday.pcap\n  \
        s7sentry inventory --state plant.db --csaf /var/lib/s7sentry/csaf\n  \
        s7sentry inventory --state hall1.db --state hall2.db\n\n\
        Environment: S7SENTRY_LOG sets the diagnostic log level on stderr (error, warn [default], \
        info, debug, trace, or a tracing filter such as s7sentry_sensor=debug); colours only when \
        stderr is a terminal. NO_COLOR switches the colours of --alert-format text off.\n\n\
        Documentation: README.md in the source tree."
)]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand, Debug)]
enum Cmd {
    /// Decode every S7 PDU in capture files, one record per PDU, in capture order.
    ///
    /// Records: S7comm PDUs (proto "s7comm"), S7comm-plus frames ("s7comm-plus"),
    /// COTP connection TPDUs CR/CC/DR/DC/ER ("cotp"), the first TLS payload of a
    /// connection that switched to TLS after InitSSL ("tls"), and structural
    /// violations ("finding", with layer, kind and byte offset). JSON keys are
    /// listed in the README ("decode output").
    Decode(DecodeArgs),
    /// Run the detection rules over capture files and write alerts (JSON lines, EVE, or text).
    ///
    /// Each file is analysed on its own (fresh flow table and detector), in the
    /// order given; a directory, or every file with --continuous, is one rotated
    /// set read as one stream. Time comes from the packets, so results do not depend on
    /// replay speed. A summary goes to stderr at the end. SIGTERM/SIGINT stop
    /// reading, write what the input read so far raised (and save --state), exit
    /// status 1; SIGHUP reopens the alert file.
    Replay(ReplayArgs),
    /// Print the rule catalogue: id, category, default severity, what it matches, references.
    Rules(RulesArgs),
    /// Run as a sensor on a live interface (a SPAN / mirror port): same engine and
    /// rules as `replay`, alerts as JSON lines (and optionally syslog), Prometheus
    /// metrics on /metrics, liveness on /healthz and readiness on /readyz.
    ///
    /// Needs CAP_NET_RAW and CAP_NET_ADMIN (promiscuous mode), or root; every other
    /// capability is dropped once the capture is open. SIGTERM/SIGINT flush pending
    /// alerts and stop; SIGHUP reopens the alert file (log rotation) and reloads the
    /// configuration (engineering hosts, known PLCs, thresholds, rule overrides,
    /// [[policy]] entries) into every worker without losing flow, timer, pending
    /// operation, aggregation or baseline state; an invalid file is reported and the
    /// running configuration kept (check it first with `s7sentry check-config`). Exit status 3
    /// when the interface cannot be opened (unless --wait-for-interface) or the HTTP
    /// port is in use; 2 for configuration errors (bad BPF filter, --listen that is
    /// not an address of this host, unknown --user, bad config key).
    ///
    /// Alerts carry the interface (in_iface); `frame` counts packets captured since
    /// this sensor process started (it goes on across interface reopenings; a new
    /// process starts again at 1): join alerts across restarts by sensor, ts and flow_id.
    ///
    /// Packets lost before the sensor saw them (kernel ring full) are counted in
    /// s7sentry_capture_dropped_total, in the /healthz body and in the stop line.
    /// Switch receive offloads off on the capture interface (ethtool -K IFACE gro off
    /// lro off): the sensor warns at start when they are on.
    Live(LiveArgs),
    /// Print the PLC inventory kept in a state file: one row per device (address, role,
    /// order number, firmware, serial, last seen, talkers) with the vendor advisories that
    /// apply to it (CSAF 2.0 files in --csaf DIR), most at risk first.
    ///
    /// Risk order: devices with applicable advisories that non-engineering hosts talk to
    /// (highest CVSS x number of such hosts), then other devices with advisories, then
    /// other PLCs, then clients. Exit status 1 when some CSAF files did not load (each is
    /// named on stderr with the JSON path of the problem; the others are used), 2 when the
    /// state file or the CSAF directory cannot be opened.
    Inventory(InventoryArgs),
    /// Per PLC, in time order, what happened: connections and who made them
    /// (COTP connect, accepted or refused, closed), control operations with their
    /// outcome (succeeded / failed / unconfirmed, from the PLC's answer), CPU state
    /// changes, outages and recoveries, and every other alert.
    ///
    /// Reads captures like `replay` (same engine, rules and configuration; a
    /// directory or --continuous reads a rotated set as one stream). Text by
    /// default, --json for one JSON document. Alerts are those `replay` writes.
    Timeline(TimelineArgs),
    /// Learn-then-enforce: freeze the learned baseline (new talkers and functions raise
    /// alerts from then on), go back to learning, or show the mode and counts.
    ///
    /// A sensor running on the same state file adopts freeze/learn at its next save.
    Baseline(BaselineArgs),
    /// Check a configuration file: parse and validate it as `replay`, `live` and a
    /// SIGHUP reload would, print what it sets (engineering hosts, known PLCs,
    /// thresholds that differ from the defaults, rule overrides, [[policy]] entries)
    /// and the warnings (control rules left out of a broad policy, control
    /// operations suppressed for a host, a control rule switched off).
    ///
    /// Exit status 0 when the file is valid (with or without warnings), 2 when it
    /// cannot be read or is invalid: one line on stderr naming the file and the
    /// offending key (e.g. `policy[2].category`).
    CheckConfig(CheckConfigArgs),
}

/// Options of `check-config`.
#[derive(clap::Args, Debug)]
pub struct CheckConfigArgs {
    /// The configuration file (TOML).
    #[arg(value_name = "FILE")]
    pub file: PathBuf,
}

/// Inventory options shared by `replay` and `live`.
#[derive(clap::Args, Debug)]
pub struct StateArgs {
    /// Inventory state file (SQLite): loaded at start, saved at the end (replay) or every
    /// --save-interval seconds when something changed and at shutdown (live). Created when missing.
    #[arg(long, value_name = "FILE")]
    pub state: Option<PathBuf>,
    /// Learn for this long from the first packet (e.g. 30m, 8h, 7d): no new_talker /
    /// new_function alerts meanwhile, then the baseline freezes. Restarts learning on a frozen state.
    #[arg(long, value_name = "DURATION", value_parser = inventory::parse_duration)]
    pub learn: Option<std::time::Duration>,
}

/// Arguments of `inventory`.
#[derive(clap::Args, Debug)]
pub struct InventoryArgs {
    /// Inventory state file written by `replay --state` or `live --state`, opened
    /// read-only. Give it several times to merge the states of several sensors: one
    /// row per device with the sensors that saw it (a SENSORS column; `sensors` in
    /// JSON and CSV).
    #[arg(long, value_name = "FILE", default_value = inventory::DEFAULT_STATE)]
    pub state: Vec<PathBuf>,
    /// Directory of CSAF 2.0 advisories (JSON; subdirectories too), e.g. from Siemens
    /// ProductCERT or CISA. Without it, no advisories are matched.
    #[arg(long, value_name = "DIR")]
    pub csaf: Option<PathBuf>,
    /// Output format.
    #[arg(long, value_enum, default_value_t = ReportFormat::Table)]
    pub format: ReportFormat,
}

/// Output format of `inventory`.
#[derive(Debug, Clone, Copy, ValueEnum, PartialEq, Eq)]
pub enum ReportFormat {
    /// Aligned table for people, then each applicable advisory once.
    Table,
    /// JSON array, one object per device (keys in the README).
    Json,
    /// CSV with a header line (RFC 4180).
    Csv,
}

/// Arguments of `baseline`.
#[derive(clap::Args, Debug)]
pub struct BaselineArgs {
    /// What to do.
    #[command(subcommand)]
    pub action: BaselineAction,
}

/// `baseline` subcommands.
#[derive(Subcommand, Debug)]
pub enum BaselineAction {
    /// Mark every device, talker and function known as baseline and enforce from now.
    Freeze(BaselineStateArg),
    /// Go back to learning (what is in the baseline stays in it).
    Learn(BaselineLearnArgs),
    /// Print the baseline mode and the counts of what is known and in the baseline.
    Show(BaselineShowArgs),
}

/// The state file of a `baseline` subcommand.
#[derive(clap::Args, Debug)]
pub struct BaselineStateArg {
    /// Inventory state file.
    #[arg(long, value_name = "FILE", default_value = inventory::DEFAULT_STATE)]
    pub state: PathBuf,
}

/// Arguments of `baseline learn`.
#[derive(clap::Args, Debug)]
pub struct BaselineLearnArgs {
    /// State file.
    #[command(flatten)]
    pub state: BaselineStateArg,
    /// Learn for this long from now (e.g. 8h, 7d), then freeze; without it, learn until `baseline freeze`.
    #[arg(long = "for", value_name = "DURATION", value_parser = inventory::parse_duration)]
    pub duration: Option<std::time::Duration>,
}

/// Arguments of `baseline show`.
#[derive(clap::Args, Debug)]
pub struct BaselineShowArgs {
    /// State file.
    #[command(flatten)]
    pub state: BaselineStateArg,
    /// Output format.
    #[arg(long, value_enum, default_value_t = OutFormat::Text)]
    pub format: OutFormat,
}

/// Options shared by `replay` and `live`.
#[derive(clap::Args, Debug, Clone)]
pub struct DetectionArgs {
    /// Configuration (TOML): engineering hosts, known PLCs, thresholds, rule overrides,
    /// [[policy]] suppression / regrading per host or pair, and the [live] table
    /// (validate it with `s7sentry check-config FILE`).
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Engineering stations, comma-separated addresses or CIDR ranges; replaces the config's list.
    #[arg(long, value_name = "LIST")]
    pub engineering_hosts: Option<String>,
}

/// Arguments of `live`.
#[derive(clap::Args, Debug)]
pub struct LiveArgs {
    /// Interface to capture on (overrides [live] interface in the config).
    #[arg(long, short, value_name = "IFACE")]
    pub interface: Option<String>,
    /// BPF filter replacing the default (TCP port 102, IP fragments and IPv6 extension headers, with and without VLAN tags; a custom filter must keep those or IP-layer evasion goes unseen).
    #[arg(long, value_name = "EXPR")]
    pub bpf: Option<String>,
    /// Address for /metrics and /healthz [default: 127.0.0.1:19102].
    #[arg(long, value_name = "ADDR:PORT")]
    pub listen: Option<String>,
    /// Detection configuration options.
    #[command(flatten)]
    pub detection: DetectionArgs,
    /// Where to write alerts (one line each, see --alert-format): a file path (created
    /// if missing, appended to, reopened on SIGHUP), or - for stdout (default).
    #[arg(long, value_name = "PATH|-")]
    pub alerts: Option<String>,
    /// Alert format, sensor name, syslog, evidence pcaps.
    #[command(flatten)]
    pub out: AlertArgs,
    /// After opening the capture, run as this user (and its group), keeping only
    /// CAP_NET_RAW and CAP_NET_ADMIN. Needs root; when the process already runs
    /// as this user (the shipped systemd unit) it is accepted as is.
    #[arg(long, value_name = "USER")]
    pub user: Option<String>,
    /// When the interface cannot be opened (missing, down), keep running and retry
    /// every second instead of exiting with status 3: /healthz (liveness) answers
    /// 200, /readyz 503 until packets can be captured. For Kubernetes and systemd.
    #[arg(long)]
    pub wait_for_interface: bool,
    /// Kernel capture ring in MiB [default: 64]. Packets are stored back to back
    /// (TPACKET_V3 blocks): 64 MiB hold a burst of about 235 000 packets of 100
    /// bytes (measured) or 35 000 full-size frames while the sensor is busy.
    #[arg(long, value_name = "MIB")]
    pub buffer_mb: Option<u32>,
    /// Snap length: frames longer than this are cut (and counted) [default: 9216,
    /// a jumbo frame with two VLAN tags].
    #[arg(long, value_name = "BYTES", value_parser = clap::value_parser!(i32).range(256..=262_144))]
    pub snaplen: Option<i32>,
    /// Worker threads. With N > 1 one thread reads the capture and N workers
    /// each own the flows of a share of the PLCs, as in `replay --threads`;
    /// the alerts are those of one thread. Not with --state / --learn.
    #[arg(long, value_name = "N", default_value_t = 1, value_parser = clap::value_parser!(u16).range(1..=64))]
    pub threads: u16,
    /// Measurement knob: libpcap immediate mode (TPACKET_V2, one snap-length slot per packet).
    #[arg(long, hide = true)]
    pub pcap_immediate: bool,
    /// Measurement knob: TPACKET_V3 block timeout in ms [default: 10].
    #[arg(long, hide = true, value_name = "MS")]
    pub pcap_timeout_ms: Option<i32>,
    /// Inventory state and learning.
    #[command(flatten)]
    pub state: StateArgs,
    /// Save the state this often (seconds) when something changed.
    #[arg(long, value_name = "SECS", default_value_t = 10, value_parser = clap::value_parser!(u64).range(1..))]
    pub save_interval: u64,
    /// Directory of CSAF 2.0 advisories, for the s7sentry_vulnerable_devices metric (read at start).
    #[arg(long, value_name = "DIR")]
    pub csaf: Option<PathBuf>,
}

/// Minimum severity for `--fail-on`.
#[derive(Debug, Clone, Copy, ValueEnum, PartialEq, Eq)]
pub enum SeverityArg {
    /// info and above.
    Info,
    /// low and above.
    Low,
    /// medium and above.
    Medium,
    /// high and above.
    High,
    /// critical only.
    Critical,
}

impl From<SeverityArg> for s7sentry_engine::rules::Severity {
    fn from(s: SeverityArg) -> Self {
        use s7sentry_engine::rules::Severity as S;
        match s {
            SeverityArg::Info => S::Info,
            SeverityArg::Low => S::Low,
            SeverityArg::Medium => S::Medium,
            SeverityArg::High => S::High,
            SeverityArg::Critical => S::Critical,
        }
    }
}

/// Line format of alerts.
#[derive(Debug, Clone, Copy, ValueEnum, PartialEq, Eq)]
pub enum AlertFormat {
    /// JSON lines: the alert's keys, then event_type, flow_id, community_id, sensor, in_iface (README "Alert JSON").
    Json,
    /// Suricata EVE JSON alert records (Filebeat's Suricata module, Security Onion, Splunk TA, jq).
    Eve,
    /// One readable line per alert: time, severity, rule, addresses, message, [file #record]
    /// (replay: sorted by time; colours on a terminal unless NO_COLOR is set).
    Text,
}

impl AlertFormat {
    /// From the config's `alert_format` value.
    pub fn parse(s: &str) -> Option<AlertFormat> {
        <AlertFormat as ValueEnum>::from_str(s, true).ok()
    }
}

/// Alert outputs shared by `replay` and `live`.
#[derive(clap::Args, Debug)]
pub struct AlertArgs {
    /// Format of the alert lines on stdout or in --alerts FILE [default: json].
    #[arg(long, visible_alias = "format", value_enum, value_name = "FORMAT")]
    pub alert_format: Option<AlertFormat>,
    /// Name of this sensor in alerts (`sensor`, EVE `host`) [default: sensor in the
    /// config, else the host name].
    #[arg(long, value_name = "NAME")]
    pub sensor: Option<String>,
    /// Also send alerts to syslog (RFC 5424, message = the alert's JSON):
    /// udp://HOST:PORT, tcp://HOST:PORT (RFC 6587 octet counting, queued, reconnecting)
    /// or unix:///dev/log.
    #[arg(long, value_name = "URL")]
    pub syslog: Option<String>,
    /// Syslog facility: a name (local0..local7, daemon, user, ...) or 0-23 [default: local0].
    #[arg(long, value_name = "FACILITY")]
    pub syslog_facility: Option<String>,
    /// Write an evidence pcap for each alert at or above --evidence-min-severity into
    /// DIR: the packets of the alert's connection before it (up to 64 packets / 64 KiB)
    /// and after it (the same); the alert's evidence names the file (evidence_pcap).
    #[arg(long, value_name = "DIR")]
    pub evidence: Option<PathBuf>,
    /// Lowest severity that gets an evidence pcap [default: medium].
    #[arg(long, value_enum, value_name = "SEVERITY")]
    pub evidence_min_severity: Option<SeverityArg>,
}

/// The captures `replay` and `timeline` read.
#[derive(clap::Args, Debug)]
pub struct InputArgs {
    /// Capture files: pcap or pcapng (several interfaces and link types), plain or
    /// compressed (gzip, zstd; recognised by content). A directory is a rotated set:
    /// its capture files are read as one stream ordered by first timestamp.
    #[arg(required = true, value_name = "FILE|DIR")]
    pub files: Vec<PathBuf>,
    /// Read all FILEs as one continuous stream (a rotated set: tcpdump -C/-G,
    /// dumpcap -b), ordered by first timestamp: connections, pending operations and
    /// timers carry across file boundaries; alerts still name the file and record.
    #[arg(long)]
    pub continuous: bool,
}

/// Arguments of `replay`.
#[derive(clap::Args, Debug)]
pub struct ReplayArgs {
    /// Captures to read.
    #[command(flatten)]
    pub input: InputArgs,
    /// Detection configuration options.
    #[command(flatten)]
    pub detection: DetectionArgs,
    /// Where to write alerts (one line each, see --alert-format): a file path (created
    /// if missing, appended to, as in `live`; reopened on SIGHUP), or - for stdout (default).
    #[arg(long, value_name = "PATH|-")]
    pub alerts: Option<String>,
    /// Alert format, sensor name, syslog, evidence pcaps.
    #[command(flatten)]
    pub out: AlertArgs,
    /// Inventory state and learning.
    #[command(flatten)]
    pub state: StateArgs,
    /// Exit with status 1 when an alert at or above this severity was raised.
    #[arg(long, value_enum, value_name = "SEVERITY")]
    pub fail_on: Option<SeverityArg>,
    /// No summary and no progress on stderr.
    #[arg(long, short)]
    pub quiet: bool,
    /// Worker threads. With N > 1 one thread reads the capture and N workers
    /// each own the flows of a share of the PLCs; the alerts are the same as
    /// with one thread, in the same order.
    #[arg(long, value_name = "N", default_value_t = 1, value_parser = clap::value_parser!(u16).range(1..=64))]
    pub threads: u16,
}

/// Arguments of `timeline`.
#[derive(clap::Args, Debug)]
pub struct TimelineArgs {
    /// Captures to read.
    #[command(flatten)]
    pub input: InputArgs,
    /// Detection configuration options.
    #[command(flatten)]
    pub detection: DetectionArgs,
    /// Only this PLC (its address).
    #[arg(long, value_name = "ADDR")]
    pub plc: Option<std::net::IpAddr>,
    /// One JSON document: an array of PLCs, each with its entries (keys in the README).
    #[arg(long)]
    pub json: bool,
}

/// Arguments of `rules`.
#[derive(clap::Args, Debug)]
pub struct RulesArgs {
    /// Output format.
    #[arg(long, value_enum, default_value_t = OutFormat::Text)]
    pub format: OutFormat,
}

/// Output format.
#[derive(Debug, Clone, Copy, ValueEnum, PartialEq, Eq)]
pub enum OutFormat {
    /// One JSON object per line.
    Jsonl,
    /// One line per record for people (like tshark's summary line).
    Text,
}

/// Arguments of `decode`.
#[derive(clap::Args, Debug)]
pub struct DecodeArgs {
    /// Capture files (pcap or pcapng). Each is decoded on its own, in the order given.
    #[arg(required = true, value_name = "FILE")]
    pub files: Vec<PathBuf>,
    /// Output format.
    #[arg(long, value_enum, default_value_t = OutFormat::Jsonl)]
    pub format: OutFormat,
    /// Print the engine's counters (packets, flows, gaps, caps hit, ...) to stderr at the end, as JSON.
    #[arg(long)]
    pub stats: bool,
}

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(c) => c,
        Err(e) => {
            let code = if e.use_stderr() { EXIT_USAGE } else { EXIT_OK };
            let _ = e.print();
            return ExitCode::from(code);
        }
    };
    // Colour escapes only on a terminal: journald and log files get plain text.
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("S7SENTRY_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .init();
    let code = match cli.cmd {
        Cmd::Decode(a) => decode::run_decode(&a),
        Cmd::Replay(a) => replay::run_replay(&a),
        Cmd::Rules(a) => print_rules(&a),
        Cmd::Live(a) => live::run_live(&a),
        Cmd::Inventory(a) => inventory::run_inventory(&a),
        Cmd::Timeline(a) => timeline::run_timeline(&a),
        Cmd::Baseline(a) => inventory::run_baseline(&a),
        Cmd::CheckConfig(a) => check_config::run_check_config(&a),
    };
    ExitCode::from(code)
}

fn print_rules(a: &RulesArgs) -> u8 {
    use s7sentry_engine::rules::catalog::RULES;
    let mut out = String::new();
    for (k, r) in RULES.iter().enumerate() {
        if a.format == OutFormat::Jsonl {
            let v = serde_json::json!({
                "id": r.id, "category": r.category.name(), "severity": r.severity.name(),
                "description": r.description, "cve": r.cve, "references": r.references,
                "suppression": s7sentry_engine::rules::policy::suppression(k),
                "aggregation": r.aggregation().describe(),
            });
            out.push_str(&v.to_string());
            out.push('\n');
        } else {
            out.push_str(&format!(
                "{}\n  category: {}   default severity: {}\n  {}\n",
                r.id,
                r.category.name(),
                r.severity.name(),
                r.description
            ));
            out.push_str(&format!("  aggregation: {}\n", r.aggregation().describe()));
            if !r.cve.is_empty() {
                out.push_str(&format!("  CVE: {}\n", r.cve.join(", ")));
            }
            if !r.references.is_empty() {
                out.push_str(&format!("  references: {}\n", r.references.join("; ")));
            }
            out.push_str(&format!("  suppression: {}\n", s7sentry_engine::rules::policy::suppression(k)));
            out.push('\n');
        }
    }
    use std::io::Write;
    let _ = std::io::stdout().write_all(out.as_bytes());
    EXIT_OK
}
