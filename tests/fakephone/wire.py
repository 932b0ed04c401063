"""Framing of the wire protocols, for blocking sockets (the fake phone's side).

- usbmuxd: a 16-byte little-endian header (length incl. header, version, message, tag), then an
  XML plist for version 1 (pymobiledevice3 `usbmux.build_usbmuxd_request`,
  `PlistMuxConnection._send`/`_receive`; libusbmuxd's `usbmuxd_header`).
- lockdownd and the plist services: a 4-byte big-endian length, then a plist
  (`service_connection.build_plist` / `recv_plist`).
- os_trace_relay: after StartActivity, a reply as <u32 length-of-length><length, little-endian>
  <plist>, then records as 0x02 <u32 LE length><record> (`os_trace.OsTraceService.syslog`,
  whose record header `_SyslogRecordHeader` the fake phone builds field for field).
"""

from __future__ import annotations

import contextlib
import plistlib
import socket
import struct
import uuid
from typing import Any


class Closed(Exception):
    """The other side hung up (or the fake pulled the cable)."""


def recv_exactly(sock: Any, size: int) -> bytes:
    data = b""
    while len(data) < size:
        try:
            chunk = sock.recv(size - len(data))
        except (OSError, ValueError) as exc:
            raise Closed(str(exc)) from exc
        if not chunk:
            raise Closed("eof")
        data += chunk
    return data


def send(sock: Any, data: bytes) -> None:
    try:
        sock.sendall(data)
    except (OSError, ValueError) as exc:
        raise Closed(str(exc)) from exc


# -- usbmuxd ------------------------------------------------------------------------------------

MUX_RESULT, MUX_PLIST = 1, 8


def mux_recv(sock: Any) -> tuple[int, int, int, bytes]:
    """(version, message, tag, payload)."""
    length, version, message, tag = struct.unpack("<IIII", recv_exactly(sock, 16))
    return version, message, tag, recv_exactly(sock, length - 16)


def mux_send(sock: Any, tag: int, body: dict[str, Any]) -> None:
    payload = plistlib.dumps(body)
    send(sock, struct.pack("<IIII", 16 + len(payload), 1, MUX_PLIST, tag) + payload)


# -- lockdownd and plist services ---------------------------------------------------------------


def plist_recv(sock: Any) -> dict[str, Any]:
    (length,) = struct.unpack(">I", recv_exactly(sock, 4))
    return plistlib.loads(recv_exactly(sock, length))


def plist_send(sock: Any, body: dict[str, Any], fmt: Any = plistlib.FMT_XML) -> None:
    payload = plistlib.dumps(body, fmt=fmt)
    send(sock, struct.pack(">I", len(payload)) + payload)


# -- os_trace_relay -----------------------------------------------------------------------------

# The record header pymobiledevice3 `os_trace._SyslogRecordHeader` parses (129 bytes).
_RECORD = struct.Struct("<9sIQ16s18sIIIBB6sQQ16sHHHIIII")
LEVELS = {"NOTICE": 0x00, "INFO": 0x01, "DEBUG": 0x02, "USER_ACTION": 0x03, "ERROR": 0x10}
LEVELS["DEFAULT"] = 0x00
LEVELS["FAULT"] = 0x11


def activity_reply(body: dict[str, Any]) -> bytes:
    payload = plistlib.dumps(body)
    size = len(payload).to_bytes(4, "little")
    return struct.pack("<I", len(size)) + size + payload


def syslog_record(
    *,
    when: float,
    pid: int,
    process_path: str,
    message: str,
    image_path: str = "",
    subsystem: str = "",
    category: str = "",
    level: str = "DEFAULT",
) -> bytes:
    """One framed os_trace record: 0x02, length, header, strings."""
    seconds = int(when)
    micros = round((when - seconds) * 1_000_000)
    if micros >= 1_000_000:
        seconds, micros = seconds + 1, micros - 1_000_000
    image = (image_path or process_path).encode() + b"\0"
    text = message.encode() + b"\0"
    sub = subsystem.encode() + b"\0" if subsystem and category else b""
    cat = category.encode() + b"\0" if subsystem and category else b""
    header = _RECORD.pack(
        bytes(9),
        pid,
        pid,
        uuid.UUID(int=pid).bytes,
        bytes(18),
        seconds,
        0,
        micros,
        0,
        LEVELS.get(level.upper(), 0),
        bytes(6),
        0,
        1,
        uuid.UUID(int=pid + 1).bytes,
        len(image),
        len(text),
        0,
        0,
        len(sub),
        len(cat),
        0,
    )
    record = header + process_path.encode() + b"\0" + image + text + sub + cat
    return b"\x02" + struct.pack("<I", len(record)) + record


def shutdown(sock: socket.socket | Any) -> None:
    """Close a socket so a thread blocked in recv on it wakes up."""
    for step in (lambda: sock.shutdown(socket.SHUT_RDWR), sock.close):
        with contextlib.suppress(OSError, ValueError):
            step()
