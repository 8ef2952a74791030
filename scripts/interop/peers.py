#!/usr/bin/env python3
"""Real third-party S7 peers for the interoperability tests (run inside the venv).

Every byte on the wire comes from the libraries, never from this file:
  python-snap7  (classic S7comm client and server emulator, pure Python)
  s7commplus    (S7comm-plus client and server emulator, pure Python)
  pyS7          (PyPI "pys7": a second classic S7comm client, pure Python)
Versions are pinned in requirements.txt next to this file.

  peers.py serve --snap7 IP --plus IP --plus-tls IP --dir DIR   run the emulated PLCs until SIGTERM
  peers.py list                                                   scenario names, one a line
  peers.py client SCENARIO --src IP --snap7 IP --plus IP --plus-tls IP
                                                                  run one scenario as client from IP

A client prints one JSON line per library operation: {"op": ..., "ok": true|false, "error": ...}.
An operation the library or the emulator refuses is recorded, not fatal: the test decides what it
expects. The exit status is 0 unless the scenario itself could not run (no connection at all).
"""

import argparse
import datetime as dt
import json
import logging
import os
import signal
import socket
import struct
import sys
import threading
import time

# ------------------------------------------------------------------ helpers


def bind_source(ip):
    """Make every IPv4 socket this process opens leave from `ip` (a role's address)."""
    orig = socket.socket.connect

    def connect(self, addr):
        if self.family == socket.AF_INET:
            try:
                self.bind((ip, 0))
            except OSError:
                pass  # already bound (reconnect of the same socket object)
        return orig(self, addr)

    socket.socket.connect = connect


def emit(op, ok, error=None, **extra):
    line = {"op": op, "ok": ok}
    if error is not None:
        line["error"] = error
    line.update(extra)
    print(json.dumps(line), flush=True)


def step(op, fn, *a, **kw):
    """Run one library operation; record its outcome and keep going."""
    try:
        r = fn(*a, **kw)
    except Exception as e:  # the library or the emulator may refuse
        emit(op, False, f"{type(e).__name__}: {e}")
        return None
    emit(op, True)
    return r


# ------------------------------------------------------------------ servers


def serve(args):
    from snap7.server import Server
    from snap7.type import SrvArea
    from s7commplus.protocol import ProtocolVersion
    from s7commplus.server import S7CommPlusServer

    srv = Server(log=False)
    db1 = bytearray(256)
    struct.pack_into(">fhI", db1, 0, 21.5, 1234, 0xDEADBEEF)
    db1[20:32] = b"SNAP7-TESTDB"
    srv.register_area(SrvArea.DB, 1, db1)
    srv.register_area(SrvArea.DB, 2, bytearray(256))
    srv.register_area(SrvArea.DB, 3, bytearray(64))
    srv.register_area(SrvArea.MK, 0, bytearray(64))
    srv.register_area(SrvArea.PE, 0, bytearray(16))
    srv.register_area(SrvArea.PA, 0, bytearray(16))
    srv.start_to(args.snap7, 102)

    def plus(version, ip, tls):
        s = S7CommPlusServer(protocol_version=version)
        s.register_db(1, {"temperature": ("Real", 0), "pressure": ("Real", 4), "count": ("DInt", 8)})
        s.register_db(2, {"setpoint": ("Real", 0), "mode": ("Int", 4)})
        if tls:
            s.start(host=ip, port=102, use_tls=True, tls_cert=tls[0], tls_key=tls[1])
        else:
            s.start(host=ip, port=102)
        return s

    plus_v1 = plus(ProtocolVersion.V1, args.plus, None)
    plus_tls = plus(ProtocolVersion.V2, args.plus_tls, self_signed(args.dir))
    print("ready", flush=True)
    done = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: done.set())
    signal.signal(signal.SIGINT, lambda *_: done.set())
    while not done.wait(0.5):
        pass
    for s in (plus_v1, plus_tls):
        s.stop()
    srv.stop()


def self_signed(d):
    """A throw-away self-signed certificate for the TLS emulator (made at run time, never stored)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "s7-emulator.invalid")])
    now = dt.datetime.now(dt.timezone.utc)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=30))
        .sign(key, hashes.SHA256())
    )
    c, k = os.path.join(d, "plc-cert.pem"), os.path.join(d, "plc-key.pem")
    with open(c, "wb") as f:
        f.write(cert.public_bytes(serialization.Encoding.PEM))
    with open(k, "wb") as f:
        f.write(
            key.private_bytes(
                serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
            )
        )
    return c, k


# ------------------------------------------------------------------ classic S7comm (python-snap7)


def snap7_client(ip):
    from snap7.client import Client

    c = Client()
    c.connect(ip, 0, 1, 102)
    return c


def with_snap7(body):
    """Connect, run `body(client)`, disconnect (COTP DR), as a real tool does."""

    def run(a):
        c = snap7_client(a.snap7)
        emit("connect", True)
        body(c, a)
        step("disconnect", c.disconnect)

    return run


def op_read_write(c, a):
    from snap7.type import Area

    step("db_read DB1.DBB0..31", c.db_read, 1, 0, 32)
    step("db_write DB2.DBW0", c.db_write, 2, 0, bytearray(struct.pack(">h", 42)))
    step("ab_read QB0", c.ab_read, 0, 2)
    step("ab_write QB0", c.ab_write, 0, bytearray([0x5A]))
    step("mb_read MB0..3", c.mb_read, 0, 4)
    step("eb_read IB0", c.eb_read, 0, 1)
    items = [
        {"area": Area.DB, "db_number": 1, "start": 0, "size": 4},
        {"area": Area.MK, "db_number": 0, "start": 0, "size": 2},
        {"area": Area.PE, "db_number": 0, "start": 0, "size": 1},
    ]
    step("read_multi_vars DB1,M,I", c.read_multi_vars, items)
    writes = [
        {"area": Area.DB, "db_number": 2, "start": 4, "data": bytearray(b"\x00\x07")},
        {"area": Area.MK, "db_number": 0, "start": 8, "data": bytearray(b"\x01")},
    ]
    step("write_multi_vars DB2,M", c.write_multi_vars, writes)


def op_szl(c, a):
    step("read_szl_list", c.read_szl_list)
    step("read_szl 0x0011 (module identification)", c.read_szl, 0x0011, 0)
    step("read_szl 0x001C (component identification)", c.read_szl, 0x001C, 0)
    step("get_cpu_info", c.get_cpu_info)
    step("get_order_code", c.get_order_code)
    step("get_cp_info", c.get_cp_info)
    step("get_protection", c.get_protection)


def op_cpu_state(c, a):
    step("get_cpu_state", c.get_cpu_state)


def op_blocks(c, a):
    from snap7.type import Block

    step("list_blocks", c.list_blocks)
    step("list_blocks_of_type DB", c.list_blocks_of_type, Block.DB, 16)
    step("get_block_info DB1", c.get_block_info, Block.DB, 1)


def op_stop(c, a):
    step("plc_stop", c.plc_stop)


def op_hot_start(c, a):
    step("plc_hot_start", c.plc_hot_start)


def op_cold_start(c, a):
    step("plc_cold_start", c.plc_cold_start)


def op_upload(c, a):
    step("upload DB1", c.upload, 1)


def op_full_upload(c, a):
    from snap7.type import Block

    step("full_upload DB1", c.full_upload, Block.DB, 1)


def op_upload_refused(c, a):
    step("upload DB99 (no such block)", c.upload, 99)


def op_download(c, a):
    step("download DB2 (100 bytes)", c.download, bytearray(range(100)), 2)


def op_download_refused(c, a):
    # DB3 holds 64 bytes: the emulator refuses a 200-byte image (error 0x8104).
    step("download DB3 (200 bytes, too large)", c.download, bytearray(200), 3)


def op_delete(c, a):
    from snap7.type import Block

    step("delete DB3", c.delete, Block.DB, 3)


def op_clock(c, a):
    step("get_plc_datetime", c.get_plc_datetime)
    step("set_plc_datetime 2024-01-02 03:04:05", c.set_plc_datetime, dt.datetime(2024, 1, 2, 3, 4, 5))


def op_password(c, a):
    step("set_session_password", c.set_session_password, "secret12")
    step("clear_session_password", c.clear_session_password)


def op_copy_ram_to_rom(c, a):
    step("copy_ram_to_rom", c.copy_ram_to_rom, 1000)


def op_compress(c, a):
    step("compress", c.compress, 1000)


# Enough writes, back to back on one connection, to be a flood at any speed the test config
# allows for (see tests/interop.toml): the count is fixed, never the duration.
WRITE_FLOOD_COUNT = 1500


def op_write_flood(c, a):
    n, err = 0, None
    t0 = time.monotonic()
    for n in range(WRITE_FLOOD_COUNT):
        try:
            c.db_write(1, 4, bytearray(struct.pack(">h", n & 0x7FFF)))
        except Exception as e:
            err = f"{type(e).__name__}: {e}"
            break
    else:
        n = WRITE_FLOOD_COUNT
    emit(f"db_write DB1.DBW4 x{WRITE_FLOOD_COUNT}", err is None, err, writes=n,
         seconds=round(time.monotonic() - t0, 3))


CONN_FLOOD_COUNT = 24


def sc_conn_flood(a):
    """Open many ISO-on-TCP connections (each with COTP CR and Setup Communication) and hold them."""
    clients = []
    for i in range(CONN_FLOOD_COUNT):
        c = step(f"connect #{i + 1}", snap7_client, a.snap7)
        if c is not None:
            clients.append(c)
    emit("connections held", True, count=len(clients))
    time.sleep(0.5)
    for c in clients:
        step("disconnect", c.disconnect)


def sc_hmi_polling(a):
    """An HMI: one connection, a DB read and a 3-item read every 100 ms, a setpoint write every 10th cycle."""
    from snap7.type import Area

    c = snap7_client(a.snap7)
    emit("connect", True)
    for i in range(40):
        step("db_read DB1.DBB0..31", c.db_read, 1, 0, 32)
        step("read_multi_vars DB1,M,I", c.read_multi_vars, [
            {"area": Area.DB, "db_number": 1, "start": 0, "size": 4},
            {"area": Area.MK, "db_number": 0, "start": 0, "size": 2},
            {"area": Area.PE, "db_number": 0, "start": 0, "size": 1},
        ])
        if i % 10 == 9:
            step("db_write DB2.DBW0", c.db_write, 2, 0, bytearray(struct.pack(">h", i)))
        time.sleep(0.1)
    step("disconnect", c.disconnect)


def sc_pys7_polling(a):
    """pyS7 (a second, independent classic client) polling like an HMI: CPU status, tag reads
    (one multi-item Read Var each), a setpoint write every 5th cycle."""
    from pyS7 import S7Client

    c = S7Client(address=a.snap7, rack=0, slot=1)
    c.connect()
    emit("connect", True)
    tags = ["DB1,R0", "DB1,I4", "DB1,DW6", "DB1,X12.0", "MB0", "IB0"]
    for i in range(10):
        step("read DB1,R0 DB1,I4 DB1,DW6 DB1,X12.0 MB0 IB0", c.read, tags)
        if i % 5 == 4:
            step("write DB2,I0", c.write, ["DB2,I0"], [i])
        time.sleep(0.1)
    step("disconnect", c.disconnect)


# ------------------------------------------------------------------ S7comm-plus (s7commplus)


def plus_connect(ip, tls=False, **kw):
    from s7commplus.client import S7CommPlusClient

    c = S7CommPlusClient()
    c.connect(ip, port=102, use_tls=tls, **kw)
    emit("connect", True, protocol=int(c.protocol_version), tls=bool(c.tls_active))
    return c


def plus_reads_writes(c, cycles):
    step("get_cpu_state", c.get_cpu_state)
    step("list_datablocks", c.list_datablocks)
    step("browse", c.browse)
    for i in range(cycles):
        step("db_read DB1.0..11", c.db_read, 1, 0, 12)
        step("db_read_multi DB1,DB2", c.db_read_multi, [(1, 0, 4), (2, 0, 6)])
        if i % 3 == 2:
            step("db_write DB2.0", c.db_write, 2, 0, struct.pack(">f", 50.0 + i))
        time.sleep(0.1)


def sc_plus_session(a):
    c = plus_connect(a.plus)
    plus_reads_writes(c, 10)
    step("disconnect", c.disconnect)


def sc_plus_tls(a):
    c = plus_connect(a.plus_tls, tls=True)
    plus_reads_writes(c, 3)
    step("disconnect", c.disconnect)


def sc_plus_engineering(a):
    """Connect with the engineering-station identity (TSAP SIMATIC-ROOT-ES), as TIA Portal does."""
    c = plus_connect(a.plus, connection_type="es")
    step("get_cpu_state", c.get_cpu_state)
    step("disconnect", c.disconnect)


def sc_plus_stop(a):
    """CPU STOP over S7comm-plus: SetVariable on theCPUexecUnit (RID 52), OperatingStateREQ
    (attribute 2167) = 1. The library's set_plc_operating_state refuses to send anything (not
    validated on hardware), so the request goes through the library's own connection (framing,
    sequence number, session id, integrity id) and its own SetVariable payload builder."""
    from s7commplus.connection import _build_set_variable_payload
    from s7commplus.protocol import DataType, FunctionCode
    from s7commplus.vlq import encode_int32_vlq

    c = plus_connect(a.plus)
    value = bytes([0x00, DataType.DINT]) + encode_int32_vlq(1)
    payload = _build_set_variable_payload(52, 2167, value)
    step("SetVariable OperatingStateREQ = 1 (STOP)", c._connection.send_request, FunctionCode.SET_VARIABLE, payload)
    step("disconnect", c.disconnect)


def sc_plus_upload(a):
    c = plus_connect(a.plus)
    step("upload_block DB1", c.upload_block, 0x08, 1)
    step("disconnect", c.disconnect)


def sc_plus_download(a):
    c = plus_connect(a.plus)
    step("download_block DB2", c.download_block, 0x08, 2, bytes(16))
    step("disconnect", c.disconnect)


# ------------------------------------------------------------------ scenario table

SNAP7_OPS = {
    "read_write": op_read_write,
    "szl": op_szl,
    "cpu_state": op_cpu_state,
    "blocks": op_blocks,
    "stop": op_stop,
    "hot_start": op_hot_start,
    "cold_start": op_cold_start,
    "upload": op_upload,
    "full_upload": op_full_upload,
    "upload_refused": op_upload_refused,
    "download": op_download,
    "download_refused": op_download_refused,
    "delete": op_delete,
    "clock": op_clock,
    "password": op_password,
    "copy_ram_to_rom": op_copy_ram_to_rom,
    "compress": op_compress,
    "write_flood": op_write_flood,
}

# scenario name -> (role, function). Roles: attacker, es (engineering station), hmi.
SCENARIOS = {}
for _name, _fn in SNAP7_OPS.items():
    for _role in ("attacker", "es"):
        SCENARIOS[f"snap7_{_name}.{_role}"] = (_role, with_snap7(_fn))
SCENARIOS["snap7_conn_flood.attacker"] = ("attacker", sc_conn_flood)
SCENARIOS["snap7_conn_flood.es"] = ("es", sc_conn_flood)
SCENARIOS["snap7_hmi_polling.hmi"] = ("hmi", sc_hmi_polling)
SCENARIOS["pys7_polling.hmi"] = ("hmi", sc_pys7_polling)
SCENARIOS["pys7_polling.attacker"] = ("attacker", sc_pys7_polling)
for _name, _fn in {
    "session": sc_plus_session,
    "tls": sc_plus_tls,
    "engineering": sc_plus_engineering,
    "stop": sc_plus_stop,
    "upload": sc_plus_upload,
    "download": sc_plus_download,
}.items():
    for _role in ("attacker", "es"):
        SCENARIOS[f"plus_{_name}.{_role}"] = (_role, _fn)
SCENARIOS["plus_session.hmi"] = ("hmi", sc_plus_session)


def main():
    ap = argparse.ArgumentParser()
    sub = ap.add_subparsers(dest="cmd", required=True)
    s = sub.add_parser("serve")
    s.add_argument("--dir", required=True)
    c = sub.add_parser("client")
    c.add_argument("scenario", choices=sorted(SCENARIOS))
    c.add_argument("--src", required=True)
    for p in (s, c):
        p.add_argument("--snap7", required=True)
        p.add_argument("--plus", required=True)
        p.add_argument("--plus-tls", required=True)
    sub.add_parser("list")
    a = ap.parse_args()
    logging.basicConfig(level=logging.CRITICAL)
    if a.cmd == "list":
        for name, (role, _) in SCENARIOS.items():
            print(f"{name}\t{role}")
    elif a.cmd == "serve":
        serve(a)
    else:
        bind_source(a.src)
        try:
            SCENARIOS[a.scenario][1](a)
        except Exception as e:
            emit("scenario", False, f"{type(e).__name__}: {e}")
            sys.exit(1)


if __name__ == "__main__":
    main()
