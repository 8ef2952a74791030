#!/usr/bin/env python3
# Usage: scripts/ooo-flood-pcap.py FLOWS SEGMENTS SIZE OUT.pcap (issue 10 flood-memory measurements;
# see the commit that added it for peak RSS numbers).
# Hostile capture: N flows to a PLC on port 102; each: handshake, then SEGS
# out-of-order data segments of SIZE bytes that never get their first byte
# (a hole at the start), round-robin across flows so every flow holds at once.
import struct, sys
N, SEGS, SIZE, out = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
def csum(b):
    if len(b) % 2: b += b'\0'
    s = sum(struct.unpack('!%dH' % (len(b)//2), b))
    while s >> 16: s = (s & 0xffff) + (s >> 16)
    return (~s) & 0xffff
def pkt(src, dst, sport, dport, seq, ack, flags, payload):
    tcp = struct.pack('!HHIIBBHHH', sport, dport, seq, ack, 5 << 4, flags, 64240, 0, 0) + payload
    ph = src + dst + struct.pack('!BBH', 0, 6, len(tcp))
    c = csum(ph + tcp)
    tcp = tcp[:16] + struct.pack('!H', c) + tcp[18:]
    ip = struct.pack('!BBHHHBBH4s4s', 0x45, 0, 20 + len(tcp), 0, 0x4000, 64, 6, 0, src, dst)
    ip = ip[:10] + struct.pack('!H', csum(ip)) + ip[12:]
    return b'\x00\x11\x22\x33\x44\x55\x66\x77\x88\x99\xaa\xbb\x08\x00' + ip + tcp
plc = bytes([10, 10, 1, 10])
f = open(out, 'wb')
f.write(struct.pack('<IHHiIII', 0xa1b2c3d4, 2, 4, 0, 0, 65535, 1))
t = [0]
def w(p):
    t[0] += 20
    f.write(struct.pack('<IIII', 1_700_000_000 + t[0] // 1_000_000, t[0] % 1_000_000, len(p), len(p)) + p)
cl = lambda i: bytes([10, 20 + (i >> 16), (i >> 8) & 255, i & 255])
payload = bytes(range(256)) * (SIZE // 256 + 1)
for i in range(N):
    c, sp = cl(i), 20000 + (i % 40000)
    w(pkt(c, plc, sp, 102, 1000, 0, 0x02, b''))
    w(pkt(plc, c, 102, sp, 5000, 1001, 0x12, b''))
    w(pkt(c, plc, sp, 102, 1001, 5001, 0x10, b''))
for k in range(SEGS):
    for i in range(N):
        c, sp = cl(i), 20000 + (i % 40000)
        # byte 1001 never arrives: every segment is held
        w(pkt(c, plc, sp, 102, 1002 + k * SIZE, 5001, 0x10, payload[:SIZE]))
f.close()
