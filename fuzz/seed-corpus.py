#!/usr/bin/env python3
"""Extract fuzz seeds from real captures into fuzz/corpus-raw/<target>/.

    fuzz/seed-corpus.py [PCAP...]        (default: /work/shared/pcaps/public/*, pcaps/*/*.pcap*)

Then minimise into the committed corpus, e.g.
    cd fuzz && RUSTC_BOOTSTRAP=1 cargo fuzz cmin s7comm corpus-raw/s7comm   (see fuzz/README.md)

Seeds per target:
  tpkt           TCP payloads on port 102 (one or more TPKTs)
  cotp           TPKT payloads (COTP TPDUs)
  s7comm         COTP DT user data starting with 0x32
  s7plus         COTP DT user data starting with 0x72
  engine_frames  runs of up to 12 consecutive frames, in harness::engine_frames' format
  engine_stream  TCP conversations on port 102, in harness::engine_stream's format
Needs tshark's editcap (pcapng -> pcap); everything else is parsed here.
"""
import glob
import hashlib
import os
import struct
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(ROOT, "corpus-raw")
LINKTYPES = [1, 101, 113, 276]
PER_PCAP = 400  # unique seeds per target and capture


def read_pcap(path):
    """Yield (linktype, frame bytes) from a pcap or pcapng file."""
    with tempfile.NamedTemporaryFile(suffix=".pcap") as tmp:
        r = subprocess.run(["editcap", "-F", "pcap", path, tmp.name], capture_output=True)
        if r.returncode != 0:
            print(f"skip {path}: {r.stderr.decode().strip()}", file=sys.stderr)
            return
        b = open(tmp.name, "rb").read()
    magic = b[:4]
    e = "<" if magic in (b"\xd4\xc3\xb2\xa1", b"\x4d\x3c\xb2\xa1") else ">"
    lt = struct.unpack(e + "I", b[20:24])[0]
    off = 24
    while off + 16 <= len(b):
        _, _, incl, _ = struct.unpack(e + "IIII", b[off:off + 16])
        off += 16
        yield lt, b[off:off + incl]
        off += incl


def ip_tcp(lt, f):
    """(src, sport, dst, dport, flags, payload) of an IPv4/IPv6 TCP frame, else None."""
    if lt == 1:
        i, et = 12, None
        while i + 2 <= len(f):
            et = struct.unpack(">H", f[i:i + 2])[0]
            if et in (0x8100, 0x88A8):
                i += 4
                continue
            break
        off = i + 2
    elif lt == 113:
        et, off = struct.unpack(">H", f[14:16])[0], 16
    elif lt == 276:
        et, off = struct.unpack(">H", f[0:2])[0], 20
    elif lt in (101, 228, 229):
        et, off = (0x86DD if f and f[0] >> 4 == 6 else 0x0800), 0
    else:
        return None
    if et == 0x0800 and len(f) >= off + 20:
        ihl = (f[off] & 15) * 4
        tot = struct.unpack(">H", f[off + 2:off + 4])[0]
        if f[off + 9] != 6:
            return None
        src, dst = f[off + 12:off + 16], f[off + 16:off + 20]
        end = off + tot if tot else len(f)
        t = off + ihl
    elif et == 0x86DD and len(f) >= off + 40:
        if f[off + 6] != 6:
            return None
        src, dst = f[off + 8:off + 24], f[off + 24:off + 40]
        end = off + 40 + struct.unpack(">H", f[off + 4:off + 6])[0]
        t = off + 40
    else:
        return None
    if len(f) < t + 20:
        return None
    sport, dport = struct.unpack(">HH", f[t:t + 4])
    doff = (f[t + 12] >> 4) * 4
    return src, sport, dst, dport, f[t + 13], f[t + doff:min(end, len(f))]


def tpkts(p):
    """Whole TPKTs at the start of a TCP payload."""
    out = []
    while len(p) >= 7 and p[0] == 3 and p[1] == 0:
        n = struct.unpack(">H", p[2:4])[0]
        if n < 7 or n > len(p):
            break
        out.append(p[4:n])
        p = p[n:]
    return out


class Sink:
    def __init__(self, target):
        self.dir = os.path.join(OUT, target)
        os.makedirs(self.dir, exist_ok=True)
        self.count = 0

    def add(self, b, budget):
        if not b or budget[0] <= 0:
            return
        h = hashlib.sha1(b).hexdigest()
        p = os.path.join(self.dir, h)
        if not os.path.exists(p):
            open(p, "wb").write(b)
            self.count += 1
            budget[0] -= 1


def main(paths):
    sinks = {t: Sink(t) for t in
             ["tpkt", "cotp", "s7comm", "s7plus", "engine_frames", "engine_stream"]}
    for path in paths:
        budget = {t: [PER_PCAP] for t in sinks}
        frames = list(read_pcap(path))
        convs = {}
        iso = []
        for lt, f in frames:
            t = ip_tcp(lt, f)
            if not t or 102 not in (t[1], t[3]):
                continue
            iso.append((lt, f))
            src, sport, dst, dport, flags, pl = t
            to_server = dport == 102
            key = (src, sport, dst, dport) if to_server else (dst, dport, src, sport)
            if pl:
                convs.setdefault(key, []).append((0 if to_server else 1, pl))
                sinks["tpkt"].add(pl, budget["tpkt"])
            for tp in tpkts(pl):
                sinks["cotp"].add(tp, budget["cotp"])
                if len(tp) >= 3 and tp[1] & 0xF0 == 0xF0 and tp[0] + 1 <= len(tp):
                    ud = tp[tp[0] + 1:]
                    if ud[:1] == b"\x32":
                        sinks["s7comm"].add(ud, budget["s7comm"])
                    elif ud[:1] == b"\x72":
                        sinks["s7plus"].add(ud, budget["s7plus"])
        for i in range(0, len(iso), 12):
            chunk = iso[i:i + 12]
            seed = bytearray([0x03])
            for lt, f in chunk:
                sel = (LINKTYPES.index(lt) if lt in LINKTYPES else 0) | (1 << 2)
                seed += bytes([sel]) + struct.pack("<H", len(f)) + f
            sinks["engine_frames"].add(bytes(seed), budget["engine_frames"])
        for segs in convs.values():
            # Split long conversations into pieces of about 4 KiB.
            piece, size = [], 0
            for d, pl in segs:
                piece.append((d, pl))
                size += len(pl)
                if size > 4096:
                    sinks["engine_stream"].add(encode_stream(piece), budget["engine_stream"])
                    piece, size = [], 0
            if piece:
                sinks["engine_stream"].add(encode_stream(piece), budget["engine_stream"])
    for t, s in sinks.items():
        print(f"{t}: {s.count} new seeds in {s.dir}")


def encode_stream(segs):
    out = bytearray([0x03, 0x03])  # config 3 (default caps), options: handshake + FIN
    for d, pl in segs:
        for i in range(0, len(pl), 255):
            c = pl[i:i + 255]
            out += bytes([d & 1, 0, len(c)]) + c
    return bytes(out)


if __name__ == "__main__":
    args = sys.argv[1:] or sorted(
        glob.glob("/work/shared/pcaps/public/*.pcap*")
        + glob.glob(os.path.join(ROOT, "..", "pcaps", "*", "*.pcap*")))
    main(args)
