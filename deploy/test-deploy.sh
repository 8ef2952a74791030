#!/usr/bin/env bash
# Check everything in deploy/ that can be checked without a cluster or a container
# daemon. Exit status 0 only when every check passed; a check whose tool is
# missing is a failure, except systemd-analyze, logrotate and systemd-sysusers
# ("when available") and the s7sentry binary (skipped when not built).
#
#   deploy/test-deploy.sh                      all checks
#   deploy/test-deploy.sh --exposition FILE    also lint a real /metrics exposition
#                                              (a file, or an http:// URL fetched with curl)
#                                              and require every metric family of
#                                              prometheus/metrics-example.txt in it
# Environment: S7SENTRY=path/to/s7sentry (default: target/release/s7sentry if built).
#
# Needs: promtool (Debian package prometheus), python3 with PyYAML (python3-yaml)
# and tomllib (Python >= 3.11).
set -uo pipefail

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/.." && pwd)
exposition=
while (($#)); do
  case $1 in
    --exposition) exposition=${2:?--exposition needs a file or URL}; shift 2 ;;
    -h | --help) sed -n '2,16p' "$0"; exit 0 ;;
    *) echo "test-deploy.sh: unknown argument $1 (see --help)" >&2; exit 2 ;;
  esac
done

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
pass=0 fail=0 skip=0
ok() { echo "PASS  $*"; pass=$((pass + 1)); }
bad() { echo "FAIL  $*"; fail=$((fail + 1)); }
skp() { echo "SKIP  $*"; skip=$((skip + 1)); }
# run NAME CMD...: PASS/FAIL on the exit status; output shown on failure.
run() {
  local name=$1; shift
  if "$@" >"$tmp/out" 2>&1; then ok "$name"; else bad "$name"; sed 's/^/      /' "$tmp/out"; fi
}

prom=$here/prometheus

# ------------------------------------------------------------------ tools
have_promtool=0 have_py=0
if command -v promtool >/dev/null; then have_promtool=1; else
  bad "promtool not found: apt-get install prometheus (scripts/deps test installs it)"; fi
if python3 -c 'import yaml, tomllib' 2>/dev/null; then have_py=1; else
  bad "python3 with yaml and tomllib not found: apt-get install python3 python3-yaml"; fi

# ------------------------------------------------------------- prometheus
if ((have_promtool)); then
  run "promtool check rules prometheus/s7sentry.rules.yml" promtool check rules "$prom/s7sentry.rules.yml"
  run "promtool test rules prometheus/s7sentry.rules.test.yml" promtool test rules "$prom/s7sentry.rules.test.yml"
  run "promtool check config prometheus/scrape.yml" promtool check config "$prom/scrape.yml"
  # promtool check metrics exits 0 with lint findings printed only in some
  # versions; treat any output as a failure too.
  if promtool check metrics <"$prom/metrics-example.txt" >"$tmp/out" 2>&1 && [[ ! -s $tmp/out ]]; then
    ok "promtool check metrics < prometheus/metrics-example.txt"
  else
    bad "promtool check metrics < prometheus/metrics-example.txt"; sed 's/^/      /' "$tmp/out"
  fi
fi

if command -v amtool >/dev/null; then
  am=$prom/alertmanager.example.yml
  run "amtool check-config prometheus/alertmanager.example.yml" amtool check-config "$am"
  # Routing of the labels the rules set.
  while read -r want labels; do
    # shellcheck disable=SC2086
    run "alertmanager route {$labels} -> $want" \
      amtool config routes test --config.file="$am" --verify.receivers="$want" $labels
  done <<'EOF'
ot-security-pager alertname=S7SentryUnauthorizedControl area=security severity=critical
ot-security-tickets alertname=S7SentryFlood area=security severity=warning
ot-operations-pager,ot-security-tickets alertname=S7SentryPlcNotResponding area=plc severity=critical
monitoring-team alertname=S7SentryDown area=sensor severity=critical
EOF
else
  skp "amtool not installed (Debian package prometheus-alertmanager)"
fi

# ------------------------------------- metric contract, JSON/YAML syntax, PromQL
if ((have_py)); then
  run "YAML syntax (prometheus/*.yml, kubernetes/daemonset.yaml)" python3 - "$here" <<'EOF'
import sys, yaml, pathlib
d = pathlib.Path(sys.argv[1])
for f in sorted(list(d.glob("prometheus/*.yml")) + list(d.glob("kubernetes/*.yaml"))):
    docs = [x for x in yaml.safe_load_all(f.read_text()) if x is not None]
    assert docs, f"{f}: empty"
    print(f"{f.name}: {len(docs)} document(s)")
EOF
  run "JSON syntax (python3 -m json.tool grafana/s7sentry-dashboard.json)" \
    python3 -m json.tool "$here/grafana/s7sentry-dashboard.json"

  run "metrics-example.txt has every metric family of the contract" python3 - "$prom/metrics-example.txt" <<'EOF'
import sys, re
text = open(sys.argv[1]).read()
types = dict(re.findall(r"^# TYPE (\S+) (\S+)$", text, re.M))
want = {
    "s7sentry_build_info": "gauge",
    "s7sentry_packets_received_total": "counter",
    "s7sentry_packets_processed_total": "counter",
    "s7sentry_bytes_processed_total": "counter",
    "s7sentry_capture_dropped_total": "counter",
    "s7sentry_capture_truncated_total": "counter",
    "s7sentry_alert_delay_seconds": "histogram",
    "s7sentry_last_packet_timestamp_seconds": "gauge",
    "s7sentry_processing_lag_seconds": "gauge",
    "s7sentry_findings_total": "counter",
    "s7sentry_pdus_total": "counter",
    "s7sentry_alerts_total": "counter",
    "s7sentry_flows_active": "gauge",
    "s7sentry_flows_evicted_total": "counter",
    "s7sentry_flows_expired_total": "counter",
    "s7sentry_reassembly_bytes": "gauge",
    "s7sentry_cap_hits_total": "counter",
    "s7sentry_stream_gaps_total": "counter",
    "s7sentry_plc_response_seconds": "histogram",
    "s7sentry_plc_outstanding_requests": "gauge",
    "s7sentry_plc_responding": "gauge",
    "s7sentry_plc_state_changes_total": "counter",
    "s7sentry_plc_info": "gauge",
    "s7sentry_vulnerable_devices": "gauge",
    "s7sentry_inventory_devices": "gauge",
    "s7sentry_inventory_evictions_total": "counter",
    "process_cpu_seconds_total": "counter",
    "process_resident_memory_bytes": "gauge",
    "process_start_time_seconds": "gauge",
}
errors = [f"{m}: want {t}, have {types.get(m)}" for m, t in want.items() if types.get(m) != t]
labels = {  # metric -> label names every sample must carry
    "s7sentry_build_info": {"version"},
    "s7sentry_capture_dropped_total": {"where"},
    "s7sentry_findings_total": {"layer", "kind"},
    "s7sentry_pdus_total": {"proto", "rosctr", "function"},
    "s7sentry_alerts_total": {"rule", "category", "severity"},
    "s7sentry_cap_hits_total": {"cap"},
    "s7sentry_plc_response_seconds_bucket": {"plc", "le"},
    "s7sentry_plc_outstanding_requests": {"plc"},
    "s7sentry_plc_responding": {"plc"},
    "s7sentry_plc_state_changes_total": {"plc", "state"},
    "s7sentry_plc_info": {"plc", "order_number", "firmware", "module_type"},
    "s7sentry_vulnerable_devices": {"severity"},
    "s7sentry_inventory_devices": {"role"},
}
for m, need in labels.items():
    rows = re.findall(rf"^{m}\{{([^}}]*)\}}", text, re.M)
    if not rows:
        errors.append(f"{m}: no samples with labels")
    for r in rows:
        have = set(re.findall(r'(\w+)="', r))
        if have != need:
            errors.append(f"{m}{{{r}}}: labels {sorted(have)}, want {sorted(need)}")
for line in errors:
    print(line)
sys.exit(1 if errors else 0)
EOF

  # Every PromQL expression of the dashboard must parse: wrap them in a rule
  # file (Grafana variables replaced) and let promtool check it.
  dash_ok=1
  python3 - "$here/grafana/s7sentry-dashboard.json" "$tmp/dash-rules.yml" >"$tmp/dash.out" 2>&1 <<'EOF' || dash_ok=0
import sys, json, yaml
d = json.load(open(sys.argv[1]))
assert d.get("schemaVersion", 0) >= 36, "schemaVersion"
assert any(v["name"] == "DS_PROMETHEUS" and v["type"] == "datasource" for v in d["templating"]["list"]), "no DS_PROMETHEUS datasource variable"
exprs = []
def walk(panels):
    for p in panels:
        for t in p.get("targets", []):
            assert t.get("datasource", {}).get("uid") == "${DS_PROMETHEUS}", f"panel {p['title']}: datasource"
            exprs.append(t["expr"])
        walk(p.get("panels", []))
walk(d["panels"])
exprs += [a["expr"] for a in d["annotations"]["list"] if "expr" in a]
exprs += [v["query"]["query"].replace("label_values(", "group by (x) (").replace(", sensor)", ")").replace(", plc)", ")")
          for v in d["templating"]["list"] if v["type"] == "query"]
sub = lambda e: (e.replace("$__rate_interval", "1m").replace("$__range", "1h").replace("$__interval", "1m")
                  .replace("$sensor", ".*").replace("$plc", ".*"))
yaml.safe_dump({"groups": [{"name": "dashboard", "rules": [
    {"record": f"dashboard:expr:{i}", "expr": sub(e)} for i, e in enumerate(exprs)]}]}, open(sys.argv[2], "w"))
print(len(exprs), "expressions")
EOF
  if ((!dash_ok)); then
    bad "dashboard structure (schemaVersion, \${DS_PROMETHEUS})"; sed 's/^/      /' "$tmp/dash.out"
  elif ((have_promtool)); then
    run "dashboard PromQL parses ($(head -1 "$tmp/dash.out"))" promtool check rules "$tmp/dash-rules.yml"
  fi

  run "rules and dashboard use only metrics of metrics-example.txt" python3 - "$here" <<'EOF'
import sys, re, pathlib
d = pathlib.Path(sys.argv[1])
known = set(re.findall(r"^# TYPE (\S+) ", (d / "prometheus/metrics-example.txt").read_text(), re.M)) | {"up"}
used = set()
for f in ["prometheus/s7sentry.rules.yml", "grafana/s7sentry-dashboard.json"]:
    for m in re.findall(r"\b((?:s7sentry|process)_[a-z0-9_]+)", (d / f).read_text()):
        used.add(re.sub(r"_(bucket|sum|count)$", "", m) if m.startswith("s7sentry_plc_response_seconds") else m)
unknown = sorted(used - known - {"s7sentry_severity"})  # s7sentry_severity is an alert label
print("unknown:", unknown) if unknown else print(len(used), "metric names, all known")
sys.exit(1 if unknown else 0)
EOF

  run "prometheus/scrape.yml: several sensors, each with its own sensor label" python3 - "$prom/scrape.yml" <<'EOF'
import sys, yaml
c = yaml.safe_load(open(sys.argv[1]))
job = next(j for j in c["scrape_configs"] if j["job_name"] == "s7sentry")
names = [g["labels"]["sensor"] for g in job["static_configs"] for _ in g["targets"]]
assert len(names) >= 2, names
assert len(set(names)) == len(names), f"a sensor label used twice: {names}"
print(len(names), "sensors:", ", ".join(names))
EOF

  run "kubernetes/daemonset.yaml: host network, capabilities, probes, limits" python3 - "$here/kubernetes/daemonset.yaml" <<'EOF'
import sys, yaml
docs = {d["kind"]: d for d in yaml.safe_load_all(open(sys.argv[1])) if d}
for k in ["Namespace", "ConfigMap", "DaemonSet", "Service"]:
    assert k in docs, f"missing {k}"
pod = docs["DaemonSet"]["spec"]["template"]["spec"]
c = pod["containers"][0]
assert pod["hostNetwork"] is True
caps = c["securityContext"]["capabilities"]
assert caps["drop"] == ["ALL"] and sorted(caps["add"]) == ["NET_ADMIN", "NET_RAW"], caps
assert pod["securityContext"]["runAsNonRoot"] is True
# Liveness while the process loop lives; readiness only while capturing.
assert c["livenessProbe"]["httpGet"]["path"] == "/healthz", c["livenessProbe"]
assert c["readinessProbe"]["httpGet"]["path"] == "/readyz", c["readinessProbe"]
# A state volume for the inventory and baseline, used by --state.
mounts = {m["name"]: m["mountPath"] for m in c["volumeMounts"]}
vols = {v["name"]: v for v in pod["volumes"]}
assert mounts.get("state") == "/var/lib/s7sentry", mounts
assert "hostPath" in vols["state"] or "persistentVolumeClaim" in vols["state"], vols["state"]
args = c["args"]
assert args[args.index("--state") + 1].startswith("/var/lib/s7sentry/"), args
assert "--wait-for-interface" in args, args
assert c["securityContext"]["readOnlyRootFilesystem"] is True
assert c["resources"]["limits"]["memory"] and c["resources"]["limits"]["cpu"]
assert docs["ConfigMap"]["data"]["s7sentry.toml"]
print("ok")
EOF

  run "s7sentry.toml.example and the ConfigMap are valid TOML" python3 - "$here" <<'EOF'
import sys, tomllib, yaml, pathlib
d = pathlib.Path(sys.argv[1])
ex = tomllib.loads((d / "s7sentry.toml.example").read_text())
assert {"engineering_hosts", "known_plcs", "live", "thresholds"} <= ex.keys(), ex.keys()
for k in ["interface", "listen", "alerts", "buffer_mb"]:
    assert k in ex["live"], f"[live] {k}"
cm = next(x for x in yaml.safe_load_all((d / "kubernetes/daemonset.yaml").read_text()) if x and x["kind"] == "ConfigMap")
tomllib.loads(cm["data"]["s7sentry.toml"])
print("ok")
EOF
fi

# ---------------------------------------------- configs against the binary
bin=${S7SENTRY:-$root/target/release/s7sentry}
pcap=$root/pcaps/benign_plant/capture.pcap
if [[ -x $bin && -f $pcap ]] && ((have_py)); then
  # The example with its commented optional keys switched on (rule overrides,
  # [[policy]] entries, syslog, bpf, user, sensor, alert outputs), and the ConfigMap's file.
  python3 - "$here" "$tmp" <<'EOF'
import sys, re, yaml, pathlib
d, t = pathlib.Path(sys.argv[1]), pathlib.Path(sys.argv[2])
src = (d / "s7sentry.toml.example").read_text()
(t / "example.toml").write_text(src)
on = [m.group(1) if (m := re.match(r'^# (\[rules\."[a-z_.]+"\]|enabled = false|severity = "[a-z]+"|syslog = ".*"|bpf = ".*"|user = ".*"|sensor = ".*"|syslog_facility = ".*"|alert_format = ".*"|evidence = ".*"|evidence_min_severity = ".*"|wait_for_interface = .*|\[\[policy\]\]|rule = ".*"|category = ".*"|src = ".*"|dst = ".*"|action = ".*"|regrade = ".*"|comment = ".*")$', l)) else l
      for l in src.splitlines()]
(t / "example-all.toml").write_text("\n".join(on) + "\n")
cm = next(x for x in yaml.safe_load_all((d / "kubernetes/daemonset.yaml").read_text()) if x and x["kind"] == "ConfigMap")
(t / "configmap.toml").write_text(cm["data"]["s7sentry.toml"])
EOF
  for f in example example-all configmap; do
    run "s7sentry replay --config accepts $f.toml" "$bin" replay --config "$tmp/$f.toml" -q --alerts "$tmp/alerts.jsonl" "$pcap"
    run "s7sentry check-config accepts $f.toml" "$bin" check-config "$tmp/$f.toml"
  done
  grep -q '^\[rules\."' "$tmp/example-all.toml" || bad "example-all.toml: no rule override was uncommented"
  grep -q '^user = ' "$tmp/example-all.toml" || bad "example-all.toml: [live] user was not uncommented"
  grep -q '^sensor = ' "$tmp/example-all.toml" || bad "example-all.toml: sensor was not uncommented"
  grep -q '^\[\[policy\]\]' "$tmp/example-all.toml" || bad "example-all.toml: no [[policy]] was uncommented"
  # Rule ids named anywhere in deploy/ must exist.
  "$bin" rules --format jsonl >"$tmp/rules.jsonl" 2>/dev/null
  run "rule ids named in deploy/ exist (s7sentry rules)" python3 - "$here" "$tmp/rules.jsonl" <<'EOF'
import sys, re, json, pathlib
ids = {json.loads(l).get("id") or json.loads(l).get("rule") for l in open(sys.argv[2]) if l.strip()}
cats = {"malformed", "crash_pattern", "control", "flood", "loss_of_communication", "uninspectable", "baseline"}
d = pathlib.Path(sys.argv[1])
named = set()
for f in d.rglob("*"):
    if f.is_file() and f.suffix in {".yml", ".yaml", ".toml", ".example", ".json", ".md", ".txt"}:
        named |= {m for m in re.findall(r'\b((?:%s)\.[a-z0-9_]+)\b' % "|".join(cats), f.read_text())
                  if not m.endswith(("_total", "_seconds", "_bytes"))}
missing = sorted(n for n in named if n not in ids and not n.endswith(".toml"))
print("missing:", missing) if missing else print(len(named), "rule ids, all exist")
sys.exit(1 if missing else 0)
EOF
else
  skp "config examples against the binary ($bin not built or $pcap missing)"
fi

# ---------------------------------------------------------------- systemd
unit=$here/systemd/s7sentry.service
if command -v systemd-analyze >/dev/null; then
  # verify wants ExecStart's binary to exist: point it at an executable that does.
  exe=$bin; [[ -x $exe ]] || exe=/bin/true
  sed "s#/usr/local/bin/s7sentry#$exe#" "$unit" >"$tmp/s7sentry.service"
  # verify reports unknown keys only as warnings (exit 0): any output is a failure.
  if systemd-analyze verify "$tmp/s7sentry.service" >"$tmp/out" 2>&1 && [[ ! -s $tmp/out ]]; then
    ok "systemd-analyze verify systemd/s7sentry.service"
  else
    bad "systemd-analyze verify systemd/s7sentry.service"; sed 's/^/      /' "$tmp/out"
  fi
  if systemd-analyze security --offline=yes "$tmp/s7sentry.service" >"$tmp/out" 2>&1; then
    ok "systemd-analyze security: $(grep -o 'Overall exposure level.*' "$tmp/out")"
  else
    skp "systemd-analyze security --offline (not supported by this systemd)"
  fi
else
  skp "systemd-analyze not installed"
fi
if command -v systemd-sysusers >/dev/null; then
  mkdir -p "$tmp/root/etc"
  run "systemd-sysusers --dry-run systemd/s7sentry.sysusers.conf" \
    systemd-sysusers --root="$tmp/root" --dry-run "$here/systemd/s7sentry.sysusers.conf"
else
  skp "systemd-sysusers not installed"
fi
if command -v logrotate >/dev/null; then
  # The s7sentry user does not exist here: check the syntax with root.
  sed 's/ s7sentry s7sentry$/ root root/' "$here/systemd/s7sentry.logrotate" >"$tmp/logrotate.conf"
  logrotate -d -s "$tmp/logrotate.state" "$tmp/logrotate.conf" >"$tmp/out" 2>&1
  if grep -qi '^error' "$tmp/out"; then bad "logrotate -d systemd/s7sentry.logrotate"; grep -i '^error' "$tmp/out" | sed 's/^/      /'
  else ok "logrotate -d systemd/s7sentry.logrotate"; fi
else
  skp "logrotate not installed"
fi

# ------------------------- exit statuses of configuration errors vs the unit
# Every configuration error must end with a status the unit does not restart.
if [[ -x $bin ]]; then
  prevent=$(sed -n 's/^RestartPreventExitStatus=//p' "$unit")
  cfgerr() {  # cfgerr NAME ARGS...: s7sentry ARGS exits with a status in RestartPreventExitStatus
    local name=$1; shift
    timeout 20 "$bin" "$@" >"$tmp/out" 2>&1
    local st=$?
    if [[ " $prevent " == *" $st "* ]]; then ok "$name: exit $st, not restarted (RestartPreventExitStatus=$prevent)"
    else bad "$name: exit $st, restarted by the unit (RestartPreventExitStatus=$prevent)"; sed 's/^/      /' "$tmp/out"; fi
  }
  printf '[live]\ninterface = "lo"\nno_such_key = 1\n' >"$tmp/badkey.toml"
  cfgerr "unknown config key" live --config "$tmp/badkey.toml"
  cfgerr "bad BPF filter" live --interface lo --wait-for-interface --listen 127.0.0.1:0 --bpf 'tcp port ('
  cfgerr "--listen not an address" live --interface lo --listen nonsense
  cfgerr "--listen on an address this host lacks" live --interface lo --listen 203.0.113.77:19102
  cfgerr "unknown [live] user" live --interface lo --listen 127.0.0.1:0 --user no-such-user-s7s
  cfgerr "bad syslog facility" live --interface lo --listen 127.0.0.1:0 --syslog udp://127.0.0.1:514 --syslog-facility local9
else
  skp "exit statuses of configuration errors ($bin not built)"
fi

# ------------------------------------------------- the documented install strips
# The install line of README "Install on one Debian 12 host", run against the
# built binary into a temporary directory: the result has no debug sections.
if [[ -x $bin ]] && ((have_py)); then
  line=$(grep -E '^install .*target/release/s7sentry /usr/local/bin/s7sentry' "$here/README.md" | head -1 | sed 's/ *#.*//')
  if [[ -z $line ]]; then bad "deploy/README.md: no install line for the binary"
  else
    cmd=${line//\/usr\/local\/bin\/s7sentry/$tmp/usr/local/bin/s7sentry}
    cmd=${cmd//target\/release\/s7sentry/$bin}
    mkdir -p "$tmp/usr/local/bin"
    eval "$cmd" >"$tmp/out" 2>&1 || { bad "documented install: $cmd"; sed 's/^/      /' "$tmp/out"; }
    run "documented install ($line) strips the binary" python3 - "$tmp" "$bin" <<'EOF2'
import sys, os, struct, glob
t, src = sys.argv[1], sys.argv[2]
dst = os.path.join(t, "usr/local/bin/s7sentry")
def sections(p):
    b = open(p, "rb").read()
    assert b[:4] == b"\x7fELF" and b[4] == 2, "64-bit ELF"
    shoff, = struct.unpack_from("<Q", b, 0x28); shentsize, shnum, shstrndx = struct.unpack_from("<HHH", b, 0x3A)
    hdr = lambda i: struct.unpack_from("<IIQQQQIIQQ", b, shoff + i * shentsize)
    stroff = hdr(shstrndx)[4]
    name = lambda o: b[stroff + o:b.index(b"\0", stroff + o)].decode()
    return {name(hdr(i)[0]) for i in range(shnum)}
s = sections(dst)
# .debug_gdb_scripts is loaded with the program (not debug info) and stays.
debug = sorted(x for x in s if (x.startswith(".debug") and x != ".debug_gdb_scripts") or x == ".symtab")
print(f"{os.path.getsize(src) >> 20} MiB built, {os.path.getsize(dst) >> 20} MiB installed; debug/symbol sections left: {debug}")
sys.exit(1 if debug else 0)
EOF2
  fi
else
  skp "documented install strips the binary ($bin not built)"
fi

# -------------------------------------------------------------- container
# No daemon to build with; check that every file the Containerfile copies from
# the build context exists and that the ignore file does not exclude it.
# shellcheck disable=SC2016  # the script is single-quoted on purpose; $1 is the repo root
run "container/Containerfile COPY sources exist" bash -c '
  cd "$1" || exit 1
  grep -E "^COPY " deploy/container/Containerfile | grep -v -- "--from=" | while read -r _ src _; do
    [[ $src == . || -e $src ]] || { echo "missing: $src"; exit 1; }
  done
  grep -q "^deploy" deploy/container/Containerfile.dockerignore && { echo "ignore file excludes deploy/"; exit 1; }
  exit 0' _ "$root"

# ------------------------------------------------------ a real exposition
if [[ -n $exposition ]]; then
  if [[ $exposition == http://* || $exposition == https://* ]]; then
    curl -fsS --max-time 10 "$exposition" >"$tmp/exposition.txt" || bad "fetch $exposition"
  else
    cp "$exposition" "$tmp/exposition.txt" || bad "read $exposition"
  fi
  if [[ -s $tmp/exposition.txt ]] && ((have_promtool)); then
    if promtool check metrics <"$tmp/exposition.txt" >"$tmp/out" 2>&1 && [[ ! -s $tmp/out ]]; then
      ok "promtool check metrics < $exposition"
    else
      bad "promtool check metrics < $exposition"; sed 's/^/      /' "$tmp/out"
    fi
    run "$exposition has every metric family of metrics-example.txt (same types)" python3 - "$prom/metrics-example.txt" "$tmp/exposition.txt" <<'EOF'
import sys, re
t = lambda f: dict(re.findall(r"^# TYPE (\S+) (\S+)$", open(f).read(), re.M))
want, have = t(sys.argv[1]), t(sys.argv[2])
bad = [f"{m}: want {k}, have {have.get(m)}" for m, k in want.items() if have.get(m) != k]
print("\n".join(bad)) if bad else print(len(want), "families present")
sys.exit(1 if bad else 0)
EOF
  fi
fi

echo "test-deploy.sh: $pass passed, $fail failed, $skip skipped"
((fail == 0))
