#!/usr/bin/env python3
"""Capture real third-party S7 sessions across two network namespaces, one pcap per scenario.

  capture.py --python VENV/bin/python --out DIR [--only NAME,...]

Needs root (network namespaces, tcpdump). Standard library only; the peers run under the
venv's Python (scripts/interop/setup-venv makes it). Layout:

  namespace "plc" (veth s7iP..)            namespace "clients" (veth s7iC..)
    10.10.1.10  python-snap7 server           10.10.9.99  attacker
    10.10.1.11  s7commplus server (V1)        10.10.3.30  engineering station
    10.10.1.12  s7commplus server (V2, TLS)   10.10.2.20  HMI

The namespaces and the veth pair are made by this script and removed at the end; no
packet leaves them. tcpdump listens on the PLC side of the veth (what a SPAN port of the
PLC's switch port shows; checksum offload is off on both ends, so checksums are real)
while one scenario's client runs; the pcap is closed before the next scenario starts. DIR receives NAME.pcap, NAME.ops.jsonl (the library operations and
their outcomes) and manifest.json.
"""

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
PEERS = os.path.join(HERE, "peers.py")
PLC = {"snap7": "10.10.1.10", "plus": "10.10.1.11", "plus_tls": "10.10.1.12"}
ROLES = {"attacker": "10.10.9.99", "es": "10.10.3.30", "hmi": "10.10.2.20"}
PREFIX = 16


def die(msg):
    print(f"interop: {msg}", file=sys.stderr, flush=True)
    sys.exit(2)


def sh(args, **kw):
    return subprocess.run(args, check=True, **kw)


class Netns:
    """Two namespaces joined by one veth pair; removed on close."""

    def __init__(self):
        tag = os.getpid() % 100000
        self.plc, self.cli = f"s7i{tag}p", f"s7i{tag}c"
        self.vp, self.vc = f"s7iP{tag}", f"s7iC{tag}"
        self.close()
        sh(["ip", "netns", "add", self.plc])
        sh(["ip", "netns", "add", self.cli])
        sh(["ip", "link", "add", self.vp, "type", "veth", "peer", "name", self.vc])
        sh(["ip", "link", "set", self.vp, "netns", self.plc])
        sh(["ip", "link", "set", self.vc, "netns", self.cli])
        for ns, dev, addrs in ((self.plc, self.vp, PLC.values()), (self.cli, self.vc, ROLES.values())):
            for a in addrs:
                sh(["ip", "-n", ns, "addr", "add", f"{a}/{PREFIX}", "dev", dev])
            # Checksums computed in software, as a SPAN port shows them (with the veth's
            # default offload every captured TCP checksum would be left unfilled).
            sh(self.run_in(ns) + ["ethtool", "-K", dev, "tx", "off"], stdout=subprocess.DEVNULL)
            sh(["ip", "-n", ns, "link", "set", dev, "up"])
            sh(["ip", "-n", ns, "link", "set", "lo", "up"])

    def run_in(self, ns):
        return ["ip", "netns", "exec", ns]

    def close(self):
        for ns in (self.plc, self.cli):
            subprocess.run(["ip", "netns", "del", ns], stderr=subprocess.DEVNULL)


def wait_line(proc, want, what, timeout=20.0):
    """Read `proc`'s stream until a line contains `want`."""
    t0 = time.monotonic()
    stream = proc.stdout if proc.stdout else proc.stderr
    seen = []
    while time.monotonic() - t0 < timeout:
        line = stream.readline()
        if not line:
            if proc.poll() is not None:
                break
            continue
        seen.append(line.rstrip())
        if want in line:
            return
    die(f"{what} did not start: {' | '.join(seen[-5:]) or 'no output'}")


def settle(pcap, quiet=0.5, limit=15.0):
    """Wait until tcpdump has written everything: the file has not grown for `quiet` seconds
    (and at least the last ACKs and FINs of the close had time to pass). A SIGINT while
    packets still sit in the capture ring would lose them."""
    t0 = time.monotonic()
    size, since = -1, t0
    while time.monotonic() - t0 < limit:
        n = os.path.getsize(pcap) if os.path.exists(pcap) else 0
        now = time.monotonic()
        if n != size:
            size, since = n, now
        elif now - since >= quiet:
            return
        time.sleep(0.05)


def capture_scenario(ns, py, name, role, out):
    pcap = os.path.join(out, f"{name}.pcap")
    ops_path = os.path.join(out, f"{name}.ops.jsonl")
    for p in (pcap, ops_path):
        if os.path.exists(p):
            os.remove(p)
    # Immediate mode (no packet waits in a ring block at SIGINT) and a 64 MiB ring (bursts of
    # a flood while the machine is busy); kernel drops are checked below.
    dump = subprocess.Popen(
        ns.run_in(ns.plc) + ["tcpdump", "-Z", "root", "--immediate-mode", "-B", "65536", "-i", ns.vp, "-U", "-s", "0", "-w", pcap, "tcp"],
        stderr=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
        text=True,
    )
    wait_line(dump, "listening on", "tcpdump")
    t0 = time.monotonic()
    args = [py, PEERS, "client", name, "--src", ROLES[role]] + server_args()
    try:
        r = subprocess.run(ns.run_in(ns.cli) + args, capture_output=True, text=True, timeout=120)
        rc, stdout, stderr = r.returncode, r.stdout, r.stderr
    except subprocess.TimeoutExpired as e:
        rc, stdout, stderr = -1, (e.stdout or b"").decode(), "timed out after 120 s"
    secs = time.monotonic() - t0
    settle(pcap)
    dump.send_signal(signal.SIGINT)
    try:
        _, dump_err = dump.communicate(timeout=10)
    except subprocess.TimeoutExpired:
        dump.kill()
        _, dump_err = dump.communicate()
    dropped = [l for l in dump_err.splitlines() if "dropped by" in l and not l.startswith("0 ")]
    if dropped:
        die(f"{name}: tcpdump lost packets ({'; '.join(dropped)}): the capture would not be complete")
    with open(ops_path, "w") as f:
        f.write(stdout)
    ops = [json.loads(l) for l in stdout.splitlines() if l.startswith("{")]
    failed = [o["op"] for o in ops if not o["ok"]]
    note = f"; refused: {', '.join(failed)}" if failed else ""
    print(f"interop: {name:34s} {secs:5.1f} s, rc {rc}, {len(ops)} operations{note}", flush=True)
    if rc != 0 and stderr.strip():
        print(f"interop:   {stderr.strip().splitlines()[-1]}", flush=True)
    return {"role": role, "src": ROLES[role], "pcap": pcap, "rc": rc, "seconds": round(secs, 2), "ops": ops}


def server_args():
    return ["--snap7", PLC["snap7"], "--plus", PLC["plus"], "--plus-tls", PLC["plus_tls"]]


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--python", required=True, help="the venv's python (scripts/interop/setup-venv)")
    ap.add_argument("--out", required=True, help="directory for the pcaps (made if missing)")
    ap.add_argument("--only", default="", help="comma-separated scenario names (default: all)")
    a = ap.parse_args()
    if os.geteuid() != 0:
        die("needs root (network namespaces and tcpdump)")
    for tool in ("ip", "tcpdump", "ethtool"):
        if shutil.which(tool) is None:
            die(f"'{tool}' not found: run scripts/deps test")
    os.makedirs(a.out, exist_ok=True)
    listing = subprocess.run([a.python, PEERS, "list"], capture_output=True, text=True)
    if listing.returncode != 0:
        die(f"{a.python} cannot run peers.py: {listing.stderr.strip()}")
    scenarios = [tuple(l.split("\t")) for l in listing.stdout.split("\n") if l]
    if a.only:
        want = set(a.only.split(","))
        unknown = want - {n for n, _ in scenarios}
        if unknown:
            die(f"unknown scenario(s): {', '.join(sorted(unknown))}")
        scenarios = [s for s in scenarios if s[0] in want]

    t0 = time.monotonic()
    ns = Netns()
    server = None
    manifest = {"plc": PLC, "roles": ROLES, "scenarios": {}}
    try:
        server = subprocess.Popen(
            ns.run_in(ns.plc) + [a.python, PEERS, "serve", "--dir", a.out] + server_args(),
            stdout=subprocess.PIPE,
            stderr=open(os.path.join(a.out, "servers.log"), "w"),
            text=True,
        )
        wait_line(server, "ready", "the emulated PLCs (see servers.log)")
        for name, role in scenarios:
            manifest["scenarios"][name] = capture_scenario(ns, a.python, name, role, a.out)
    finally:
        if server is not None:
            server.send_signal(signal.SIGTERM)
            try:
                server.wait(10)
            except subprocess.TimeoutExpired:
                server.kill()
        ns.close()
    manifest["seconds"] = round(time.monotonic() - t0, 1)
    with open(os.path.join(a.out, "manifest.json"), "w") as f:
        json.dump(manifest, f, indent=1)
    print(f"interop: {len(scenarios)} scenarios captured in {manifest['seconds']} s into {a.out}", flush=True)


if __name__ == "__main__":
    main()
