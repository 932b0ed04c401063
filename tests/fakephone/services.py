"""The lockdown services the ios backend uses, on the fake phone's side of the wire.

Each handler reads what pymobiledevice3 sends and answers in the shape its parser reads (the
module and function are named per handler); where a public capture or libimobiledevice says
more (status names, opcodes), that is cited too.
"""

from __future__ import annotations

import io
import plistlib
import posixpath
import select
import struct
import time
import zipfile
from typing import TYPE_CHECKING, Any

from tests.fakephone import wire

if TYPE_CHECKING:
    from tests.fakephone.phone import Connection, FakePhone


def _plist_loop(conn: Connection, answer: Any) -> None:
    """Request/reply until the client hangs up."""
    try:
        while True:
            request = conn.recv_plist()
            conn.phone.requests.append(
                (conn.service, request.get("Command") or request.get("Request"))
            )
            if answer(conn, request) is False:
                return
    except wire.Closed:
        return


# -- os_trace_relay: the live log ------------------------------------------------------------------


def os_trace(phone: FakePhone, conn: Connection) -> None:
    """StartActivity, then every entry the log script adds, 0x02-framed
    (pymobiledevice3 `OsTraceService.syslog`; go-ios ios/syslog)."""
    try:
        request = conn.recv_plist()
    except wire.Closed:
        return
    phone.requests.append(("os_trace", request.get("Request")))
    if request.get("Request") == "PidList":
        conn.send(b"\x01")
        payload = plistlib.dumps({"Status": "RequestSuccessful", "Payload": {}})
        conn.send(struct.pack(">I", len(payload)) + payload)
        return
    if request.get("Request") != "StartActivity":
        return
    try:
        conn.send(wire.activity_reply({"Status": "RequestSuccessful"}))
    except wire.Closed:
        return
    with phone._lock:
        position = max(0, len(phone._log) - phone.replay)
    while True:
        with phone._lock:
            while position >= len(phone._log) and not conn.pulled:
                phone._log_changed.wait(0.1)
                if _hung_up(conn.sock):
                    return
            if conn.pulled:
                return
            batch = phone._log[position:]
            position = len(phone._log)
        for stamped, line in batch:
            try:
                conn.send(line.record(stamped))
                phone.reached("log")
            except wire.Closed:
                return


def _hung_up(sock: Any) -> bool:
    """The client closed its end (it never writes after StartActivity)."""
    try:
        readable, _, _ = select.select([sock], [], [], 0)
    except (OSError, ValueError):
        return True
    if not readable:
        return False
    try:
        return sock.recv(1) == b""
    except (OSError, ValueError):
        return True


# -- installation_proxy ---------------------------------------------------------------------------

# The status names installd reports while installing, in order, with their percentages (as
# libimobiledevice's ideviceinstaller prints them: "CreatingStagingDirectory (5%)" …).
INSTALL_STEPS = (
    ("CreatingStagingDirectory", 5),
    ("ExtractingPackage", 15),
    ("InspectingPackage", 20),
    ("PreflightingApplication", 30),
    ("VerifyingApplication", 40),
    ("CreatingContainer", 50),
    ("InstallingApplication", 60),
    ("PostflightingApplication", 70),
    ("SandboxingApplication", 80),
    ("GeneratingApplicationMap", 90),
)


def installation_proxy(phone: FakePhone, conn: Connection) -> None:
    """Lookup / Browse / Install / Uninstall (pymobiledevice3 `InstallationProxyService.lookup`,
    `browse`, `_watch_completion`: replies until Status Complete, failures as Error and
    ErrorDescription)."""

    def answer(conn: Connection, request: dict[str, Any]) -> Any:
        command = request.get("Command")
        options = request.get("ClientOptions") or {}
        if command == "Lookup":
            phone.reached("lookup")
            wanted = options.get("BundleIDs")
            found = {b: a for b, a in phone.apps.items() if wanted is None or b in wanted}
            conn.send_plist({"LookupResult": found, "Status": "Complete"})
        elif command == "Browse":
            conn.send_plist(
                {"CurrentList": list(phone.apps.values()), "Status": "BrowsingApplications"}
            )
            conn.send_plist({"Status": "Complete"})
        elif command == "Install":
            _install(phone, conn, request.get("PackagePath", ""))
        elif command == "Uninstall":
            bundle = request.get("ApplicationIdentifier")
            phone.apps.pop(bundle, None)
            if phone.processes is not None:
                phone.processes.uninstalled(bundle)
            conn.send_plist({"PercentComplete": 50, "Status": "RemovingApplication"})
            conn.send_plist({"Status": "Complete"})
        else:
            conn.send_plist({"Error": "UnknownCommand", "ErrorDescription": str(command)})

    _plist_loop(conn, answer)


def _install(phone: FakePhone, conn: Connection, path: str) -> None:
    phone.reached("install")
    data = phone.files.get(path)
    if data is None:
        conn.send_plist(
            {"Error": "PackageExtractionFailed", "ErrorDescription": f"no package at {path}"}
        )
        return
    if phone.install_error is not None:
        error, description = phone.install_error
        conn.send_plist({"PercentComplete": 40, "Status": "VerifyingApplication"})
        conn.send_plist({"Error": error, "ErrorDescription": description})
        return
    info = _bundle_info(data)
    for status, percent in INSTALL_STEPS:
        if phone.install_delay_s:
            time.sleep(phone.install_delay_s / len(INSTALL_STEPS))
        conn.send_plist({"PercentComplete": percent, "Status": status})
    bundle = info["CFBundleIdentifier"]
    phone.packages[bundle] = data
    phone.apps[bundle] = {
        "CFBundleIdentifier": bundle,
        "CFBundleVersion": info.get("CFBundleVersion", "1"),
        "CFBundleShortVersionString": info.get("CFBundleShortVersionString", "1.0"),
        "CFBundleExecutable": info.get("CFBundleExecutable", ""),
        "ApplicationType": "User",
        "Path": f"/private/var/containers/Bundle/Application/{len(phone.apps) + 1:08X}/"
        f"{info.get('CFBundleExecutable', 'App')}.app",
    }
    conn.send_plist({"Status": "Complete"})


def _bundle_info(ipa: bytes) -> dict[str, Any]:
    with zipfile.ZipFile(io.BytesIO(ipa)) as archive:
        for name in archive.namelist():
            parts = name.split("/")
            if len(parts) == 3 and parts[0] == "Payload" and parts[2] == "Info.plist":
                return plistlib.loads(archive.read(name))
    raise wire.Closed("no Info.plist in the package")


# -- AFC ----------------------------------------------------------------------------------------

AFC_MAGIC = b"CFA6LPAA"
OP_STATUS, OP_DATA, OP_READ_DIR, OP_REMOVE, OP_MAKE_DIR, OP_INFO = 1, 2, 3, 8, 9, 10
OP_OPEN, OP_OPEN_RES, OP_WRITE, OP_CLOSE = 0x0D, 0x0E, 0x10, 0x14
OK, NOT_FOUND, NOT_SUPPORTED, DIR_NOT_EMPTY = 0, 8, 15, 33


def afc(phone: FakePhone, conn: Connection) -> None:
    """Packets of a 40-byte header (magic, entire length, this length, packet number, opcode)
    and a payload (pymobiledevice3 `afc.AfcHeader`, `_afc_reader_loop`; opcodes and status
    codes as `AfcOpcode`/`AfcError`, the same as libimobiledevice's afc.h)."""
    handles: dict[int, str] = {}
    try:
        while True:
            magic, entire, _this, number, op = struct.unpack("<8sQQQQ", conn.recv(40))
            if magic != AFC_MAGIC:
                return
            payload = conn.recv(entire - 40) if entire > 40 else b""
            phone.requests.append(("afc", op))
            reply_op, body = _afc_op(phone, handles, op, payload)
            header = struct.pack("<8sQQQQ", AFC_MAGIC, 40 + len(body), 40, number, reply_op)
            conn.send(header + body)
    except wire.Closed:
        return


def _cstr(data: bytes) -> str:
    return data.split(b"\0", 1)[0].decode()


def _status(code: int) -> tuple[int, bytes]:
    return OP_STATUS, struct.pack("<Q", code)


def _afc_op(phone: FakePhone, handles: dict[int, str], op: int, data: bytes) -> tuple[int, bytes]:
    if op == OP_MAKE_DIR:
        path = _cstr(data)
        while path not in ("", "/"):
            phone.dirs.add(path)
            path = posixpath.dirname(path)
        return _status(OK)
    if op == OP_OPEN:
        (_mode,) = struct.unpack("<Q", data[:8])
        path = _cstr(data[8:])
        if posixpath.dirname(path) not in phone.dirs:
            return _status(NOT_FOUND)
        handle = len(handles) + 1
        handles[handle] = path
        phone.files[path] = b""  # "w": created and truncated at once
        return OP_OPEN_RES, struct.pack("<Q", handle)
    if op == OP_WRITE:
        (handle,) = struct.unpack("<Q", data[:8])
        path = handles[handle]
        phone.files[path] = phone.files.get(path, b"") + data[8:]
        phone.reached("afc-write")
        return _status(OK)
    if op == OP_CLOSE:
        handles.pop(struct.unpack("<Q", data[:8])[0], None)
        return _status(OK)
    if op == OP_REMOVE:
        path = _cstr(data)
        if path in phone.files:
            del phone.files[path]
            return _status(OK)
        if path in phone.dirs:
            if any(posixpath.dirname(p) == path for p in [*phone.files, *phone.dirs]):
                return _status(DIR_NOT_EMPTY)
            phone.dirs.discard(path)
            return _status(OK)
        return _status(NOT_FOUND)
    if op == OP_INFO:
        path = _cstr(data)
        if path in phone.files:
            kind, size = "S_IFREG", len(phone.files[path])
        elif path in phone.dirs:
            kind, size = "S_IFDIR", 0
        else:
            return _status(NOT_FOUND)
        fields = ["st_size", str(size), "st_blocks", "0", "st_nlink", "1", "st_ifmt", kind]
        fields += ["st_mtime", str(time.time_ns()), "st_birthtime", str(time.time_ns())]
        return OP_DATA, b"".join(f.encode() + b"\0" for f in fields)
    if op == OP_READ_DIR:
        path = _cstr(data)
        if path not in phone.dirs:
            return _status(NOT_FOUND)
        names = [
            ".",
            "..",
            *sorted(
                posixpath.basename(p)
                for p in [*phone.files, *phone.dirs]
                if p != path and posixpath.dirname(p) == path
            ),
        ]
        return OP_DATA, b"".join(n.encode() + b"\0" for n in names)
    return _status(NOT_SUPPORTED)


# -- diagnostics_relay, mobile_image_mounter --------------------------------------------------


def diagnostics(phone: FakePhone, conn: Connection) -> None:
    """IORegistry and Sleep, answered with Status Success and a Diagnostics dict
    (pymobiledevice3 `DiagnosticsService.ioregistry`, `action`)."""

    def answer(conn: Connection, request: dict[str, Any]) -> Any:
        kind = request.get("Request")
        if kind == "IORegistry" and request.get("EntryClass") == "IOPMPowerSource":
            conn.send_plist({"Status": "Success", "Diagnostics": {"IORegistry": phone.battery}})
        elif kind == "Sleep":
            conn.send_plist({"Status": "Success"})
        elif kind == "Goodbye":
            conn.send_plist({"Status": "Success"})
            return False
        else:
            conn.send_plist({"Status": "UnknownRequest"})
        return None

    _plist_loop(conn, answer)


def image_mounter(phone: FakePhone, conn: Connection) -> None:
    """LookupImage and CopyDevices (pymobiledevice3 `MobileImageMounterService.lookup_image`,
    `copy_devices`: nothing mounted is an empty ImageSignature list or ImagePresent false)."""

    def answer(conn: Connection, request: dict[str, Any]) -> Any:
        command = request.get("Command")
        mounted = phone.scenario.disk_image
        kind = "Developer" if int(phone.ios.split(".")[0]) < 17 else "Personalized"
        if command == "LookupImage":
            if mounted and request.get("ImageType") == kind:
                conn.send_plist(
                    {"ImagePresent": True, "ImageSignature": [b"\x01" * 32], "Status": "Complete"}
                )
            else:
                conn.send_plist({"ImageSignature": [], "Status": "Complete"})
        elif command == "CopyDevices":
            entries = [{"DiskImageType": kind, "IsMounted": True}] if mounted else []
            conn.send_plist({"EntryList": entries, "Status": "Complete"})
        elif command == "Hangup":
            conn.send_plist({"Success": True})
            return False
        else:
            conn.send_plist({"Error": "UnknownCommand"})
        return None

    _plist_loop(conn, answer)


HANDLERS = {
    "com.apple.os_trace_relay": os_trace,
    "com.apple.mobile.installation_proxy": installation_proxy,
    "com.apple.afc": afc,
    "com.apple.mobile.diagnostics_relay": diagnostics,
    "com.apple.mobile.mobile_image_mounter": image_mounter,
}
