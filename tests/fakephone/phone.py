"""A fake iPhone behind a fake usbmuxd, speaking the real wire protocols on loopback TCP.

The unmodified pymobiledevice3 client drives it (`usbmux_address="127.0.0.1:PORT"`): usbmuxd's
plist protocol, lockdownd with a TLS session from the pair record, and the lockdown services
the ios backend uses (`services.py`; DVT over DTX in `dtx.py`). What it answers follows
pymobiledevice3's parsers (cited per handler) and public captures, not the backend.

Scriptable: a `Scenario` (paired, unpaired, passcode, locked, Developer Mode off, no disk
image), a log script (`log`), apps driven by a model (`processes`), and cable pulls at chosen
moments (`pull_cable_at`). Blocking sockets on threads; `stop` closes every socket and joins
every thread, so a test can assert none is left.
"""

from __future__ import annotations

import contextlib
import plistlib
import socket
import ssl
import tempfile
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tests.fakephone import pki, wire

LOCKDOWN_PORT = 62078
SYSTEM_BUID = "30B1E4A0-FA7E-4C5B-8E0E-FAKEBGHARNESS"
DEVELOPER_SERVICES = frozenset(
    {
        "com.apple.instruments.remoteserver",
        "com.apple.instruments.remoteserver.DVTSecureSocketProxy",
        "com.apple.debugserver.DVTSecureSocketProxy",
    }
)


@dataclass
class Scenario:
    """What state the phone is in; tests flip fields as they go."""

    paired: bool = True  # usbmuxd has a pair record and the phone trusts its HostID
    passcode: bool = False  # pairing is refused until the phone is unlocked (PasswordProtected)
    locked: bool = False  # services refuse to start: PasswordProtected
    developer_mode: bool = True
    disk_image: bool = True
    trust_on_pair: bool = False  # a Pair request is accepted (the user tapped Trust)
    refused: dict[str, str] = field(default_factory=dict)  # service → lockdownd's Error
    slow: dict[str, float] = field(default_factory=dict)  # service → seconds before it answers


@dataclass
class LogLine:
    """One entry of the log script."""

    message: str
    process: str = "BGProbe"
    pid: int = 700
    subsystem: str = ""
    category: str = ""
    level: str = "DEFAULT"
    when: float | None = None  # device epoch seconds; None: the moment it is logged
    image: str = ""  # the sender image's name (a framework); default: the process

    def record(self, now: float) -> bytes:
        return wire.syslog_record(
            when=self.when if self.when is not None else now,
            pid=self.pid,
            process_path=f"/private/var/containers/Bundle/Application/X/{self.process}.app/"
            f"{self.process}"
            if self.process.startswith("BG")
            else f"/usr/libexec/{self.process}",
            message=self.message,
            image_path=f"/System/Library/Frameworks/{self.image}.framework/{self.image}"
            if self.image
            else "",
            subsystem=self.subsystem,
            category=self.category,
            level=self.level,
        )


@dataclass
class _Pull:
    point: str
    nth: int
    replug_after: float | None
    seen: int = 0


@dataclass
class FakePhone:
    """One phone and its usbmuxd; `start()` → `address` → … → `stop()`."""

    udid: str = "00008110-000A1B2C3D4E5F60"
    ios: str = "16.7.2"
    build: str = "20H115"
    model: str = "iPhone14,5"
    name: str = "Lab iPhone"
    scenario: Scenario = field(default_factory=Scenario)
    replay: int = 0  # entries a new os_trace stream repeats from before it started
    host_id: str = field(default_factory=lambda: str(uuid.uuid4()).upper())
    # filled as it runs
    apps: dict[str, dict[str, Any]] = field(default_factory=dict)
    files: dict[str, bytes] = field(default_factory=dict)
    dirs: set[str] = field(default_factory=lambda: {"/", "/PublicStaging"})
    requests: list[tuple[str, Any]] = field(default_factory=list)  # (what, detail) as received
    packages: dict[str, bytes] = field(default_factory=dict)  # bundle id → the installed .ipa
    install_error: tuple[str, str] | None = None
    install_delay_s: float = 0.0
    battery: dict[str, Any] = field(
        default_factory=lambda: {"CurrentCapacity": 87, "MaxCapacity": 100, "IsCharging": True}
    )

    def __post_init__(self) -> None:
        self.attached = True
        self.device_id = 7
        self._listener: socket.socket | None = None
        self._threads: set[threading.Thread] = set()
        self._socks: set[Any] = set()
        self._device_socks: set[Any] = set()  # connections that end when the cable is pulled
        self._listeners: set[Any] = set()  # usbmuxd Listen clients
        self._ports: dict[int, str] = {}
        self._next_port = 49152
        self._lock = threading.RLock()
        self._log: list[tuple[float, LogLine]] = []
        self._log_changed = threading.Condition(self._lock)
        self._generation = 0  # bumped by each cable pull
        self._pulls: list[_Pull] = []
        self._timers: list[threading.Timer] = []
        self._stopped = False
        self.handlers: dict[str, Callable[[FakePhone, Any], None]] = {}
        from tests.fakephone import dtx, services

        self.handlers.update(services.HANDLERS)
        self.handlers["com.apple.instruments.remoteserver.DVTSecureSocketProxy"] = dtx.dvt
        self.processes: Any = None  # a ProcessModel (dtx.py); made when DVT is first used

    def process_model(self) -> Any:
        """What runs on the phone (dtx.ProcessModel), made on first use."""
        from tests.fakephone.dtx import ProcessModel

        with self._lock:
            if self.processes is None:
                self.processes = ProcessModel(self)
            return self.processes

    def drive_with(self, virtual: Any) -> FakePhone:
        """Let a virtual iPhone (harness.device.backends.virtual, through its public verbs) decide
        what the apps do: launches, kills and network conditions go to it; its log is the phone's.
        """
        from tests.fakephone.dtx import ProcessModel

        self.processes = ProcessModel(self, virtual)
        return self

    # -- life -------------------------------------------------------------------------------

    @property
    def address(self) -> str:
        assert self._listener is not None
        host, port = self._listener.getsockname()[:2]
        return f"{host}:{port}"

    def start(self) -> FakePhone:
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", 0))
        listener.listen(64)
        self._listener = listener
        self._spawn(self._accept, "fakephone-usbmuxd")
        return self

    def stop(self) -> None:
        with self._lock:
            self._stopped = True
            timers, self._timers = self._timers, []
            socks = list(self._socks)
            self._log_changed.notify_all()
        for timer in timers:
            timer.cancel()
        if self._listener is not None:
            wire.shutdown(self._listener)
        for sock in socks:
            wire.shutdown(sock)
        for thread in list(self._threads):
            if thread is not threading.current_thread():
                thread.join(10)
        for timer in timers:
            if timer.is_alive():
                timer.join(10)
        if self.processes is not None:
            self.processes.close()

    def __enter__(self) -> FakePhone:
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()

    def threads_alive(self) -> list[str]:
        return [t.name for t in self._threads if t.is_alive()]

    def open_sockets(self) -> int:
        return sum(1 for s in self._socks if s.fileno() != -1)

    # -- scripting ----------------------------------------------------------------------------

    def log(self, *lines: LogLine | str) -> None:
        """Log these lines now (each stamped with the phone's time unless it carries one)."""
        stamped = []
        for line in lines:
            if isinstance(line, str):
                line = LogLine(line)
            # A line that carries its time needs no clock: the virtual iPhone's log forwarder
            # must never wait for the model's lock (its clock waits for that forwarder).
            stamped.append((line.when if line.when is not None else self._now(), line))
        with self._lock:
            self._log.extend(stamped)
            self._log_changed.notify_all()

    def unplug(self) -> None:
        """Pull the cable: every connection to the phone drops, listeners hear Detached."""
        with self._lock:
            if not self.attached:
                return
            self.attached = False
            self._generation += 1
            socks = list(self._device_socks)
            self._device_socks.clear()
            self._log_changed.notify_all()
            for listener in list(self._listeners):
                with contextlib.suppress(wire.Closed):
                    wire.mux_send(
                        listener, 0, {"MessageType": "Detached", "DeviceID": self.device_id}
                    )
        for sock in socks:
            wire.shutdown(sock)

    def plug(self) -> None:
        with self._lock:
            if self.attached or self._stopped:
                return
            self.attached = True
            self.device_id += 1  # usbmuxd numbers a re-enumerated device anew
            for listener in list(self._listeners):
                with contextlib.suppress(wire.Closed):
                    wire.mux_send(listener, 0, self._attached_message())

    def pull_cable_at(self, point: str, *, nth: int = 1, replug_after: float | None = None) -> None:
        """Unplug when `point` is reached the `nth` time; plug back in `replug_after` s later.

        Points: "afc-write" (an upload chunk arrived), "install" (the Install command),
        "log" (a log record was sent), "lookup", "launch".
        """
        with self._lock:
            self._pulls.append(_Pull(point, nth, replug_after))

    def reached(self, point: str) -> None:
        """Called by the handlers at each point; pulls the cable if a test asked for it."""
        self.requests.append(("point", point))
        with self._lock:
            due = None
            for pull in self._pulls:
                if pull.point == point:
                    pull.seen += 1
                    if pull.seen == pull.nth:
                        due = pull
            if due is None:
                return
            self._pulls.remove(due)
        self.unplug()
        if due.replug_after is not None:
            timer = threading.Timer(due.replug_after, self.plug)
            timer.name = "fakephone-replug"
            timer.daemon = True
            with self._lock:
                self._timers.append(timer)
            timer.start()
        raise wire.Closed(f"cable pulled at {point}")

    # -- lockdown values -----------------------------------------------------------------------

    def values(self) -> dict[str, Any]:
        return {
            "BuildVersion": self.build,
            "DeviceClass": "iPhone",
            "DeviceName": self.name,
            "ProductType": self.model,
            "ProductVersion": self.ios,
            "UniqueDeviceID": self.udid,
            "UniqueChipID": 0x000A1B2C3D4E5F60,
            "DevicePublicKey": pki.keys().device_public_key,
            "WiFiAddress": "00:11:22:33:44:55",
            "HardwareModel": "D16AP",
            "CPUArchitecture": "arm64e",
            "TimeIntervalSince1970": self._now(),
            "PasswordProtected": self.scenario.passcode,
        }

    def _now(self) -> float:
        model = self.processes
        now = model.now() if model is not None else None
        return time.time() if now is None else now

    def pair_record(self) -> dict[str, Any]:
        return pki.pair_record(self.host_id, SYSTEM_BUID)

    # -- threads and sockets --------------------------------------------------------------------

    def _spawn(self, target: Callable[..., None], name: str, *args: Any) -> None:
        def run() -> None:
            try:
                target(*args)
            finally:
                with self._lock:
                    self._threads.discard(threading.current_thread())

        thread = threading.Thread(target=run, name=name, daemon=True)
        with self._lock:
            self._threads.add(thread)
        thread.start()

    def _track(self, sock: Any, device: bool = False) -> Any:
        with self._lock:
            self._socks.add(sock)
            if device:
                self._device_socks.add(sock)
        return sock

    def _forget(self, sock: Any) -> None:
        wire.shutdown(sock)
        with self._lock:
            self._socks.discard(sock)
            self._device_socks.discard(sock)
            self._listeners.discard(sock)

    def _accept(self) -> None:
        assert self._listener is not None
        while True:
            try:
                sock, _ = self._listener.accept()
            except OSError:
                return
            with self._lock:
                if self._stopped:
                    wire.shutdown(sock)
                    return
                self._track(sock)
            self._spawn(self._serve_mux, "fakephone-mux", sock)

    # -- usbmuxd (plist protocol) -----------------------------------------------------------------

    def _attached_message(self) -> dict[str, Any]:
        # The shape of usbmuxd's Attached message (pymobiledevice3 `PlistMuxConnection.
        # _process_device_state` reads DeviceID, Properties.SerialNumber/ConnectionType;
        # go-ios ios/listdevices.go `DeviceProperties` names the rest).
        return {
            "MessageType": "Attached",
            "DeviceID": self.device_id,
            "Properties": {
                "ConnectionSpeed": 480000000,
                "ConnectionType": "USB",
                "DeviceID": self.device_id,
                "LocationID": 0x14100000,
                "ProductID": 0x12A8,
                "SerialNumber": self.udid,
                "USBSerialNumber": self.udid.replace("-", ""),
            },
        }

    def _serve_mux(self, sock: socket.socket) -> None:
        try:
            while True:
                _version, _message, tag, payload = wire.mux_recv(sock)
                request = plistlib.loads(payload)
                kind = request.get("MessageType")
                self.requests.append(("usbmuxd", kind))
                if kind == "ReadBUID":
                    wire.mux_send(sock, tag, {"BUID": SYSTEM_BUID})
                elif kind == "ListDevices":
                    with self._lock:
                        listed = [self._attached_message()] if self.attached else []
                    wire.mux_send(sock, tag, {"DeviceList": listed})
                elif kind == "Listen":
                    with self._lock:
                        wire.mux_send(sock, tag, {"MessageType": "Result", "Number": 0})
                        self._listeners.add(sock)
                        if self.attached:
                            wire.mux_send(sock, 0, self._attached_message())
                elif kind == "ReadPairRecord":
                    if self.scenario.paired and request.get("PairRecordID") == self.udid:
                        data = plistlib.dumps(self.pair_record())
                        wire.mux_send(sock, tag, {"PairRecordData": data})
                    else:
                        # libusbmuxd: no record is a Result with Number 2 (ENOENT)
                        wire.mux_send(sock, tag, {"MessageType": "Result", "Number": 2})
                elif kind == "SavePairRecord":
                    wire.mux_send(sock, tag, {"MessageType": "Result", "Number": 0})
                elif kind == "Connect":
                    self._connect(sock, tag, request)
                    return
                else:
                    wire.mux_send(sock, tag, {"MessageType": "Result", "Number": 1})
        except wire.Closed:
            pass
        finally:
            self._forget(sock)

    def _connect(self, sock: socket.socket, tag: int, request: dict[str, Any]) -> None:
        # PortNumber is in network byte order (pymobiledevice3 `MuxConnection.connect` htons).
        port = socket.ntohs(int(request.get("PortNumber", 0)))
        with self._lock:
            if not self.attached or request.get("DeviceID") != self.device_id:
                wire.mux_send(sock, tag, {"MessageType": "Result", "Number": 2})  # BADDEV
                return
            service = "lockdown" if port == LOCKDOWN_PORT else self._ports.pop(port, None)
            if service is None:
                wire.mux_send(sock, tag, {"MessageType": "Result", "Number": 3})  # CONNREFUSED
                return
            wire.mux_send(sock, tag, {"MessageType": "Result", "Number": 0})
            self._track(sock, device=True)
            generation = self._generation
        held = [sock]
        delay = self.scenario.slow.get(service, 0.0)
        if delay:
            time.sleep(delay)  # a busy phone (or host): the service answers late
        try:
            if service == "lockdown":
                self._lockdown(held)
                return
            handler = self.handlers.get(service)
            if handler is None:
                return
            held.append(self._track(_server_tls().wrap_socket(sock, server_side=True), True))
            handler(self, Connection(self, held[-1], service, generation))
        except (ssl.SSLError, OSError) as exc:
            raise wire.Closed(str(exc)) from exc
        finally:
            for each in held:
                self._forget(each)

    # -- lockdownd ---------------------------------------------------------------------------

    def _lockdown(self, held: list[Any]) -> None:
        # Requests and replies as pymobiledevice3 `LockdownClient._request` and
        # `_verify_request_response` expect: the reply echoes "Request"; failures carry "Error".
        session = False
        sock = held[0]
        while True:
            request = wire.plist_recv(sock)
            name = request.get("Request")
            self.requests.append(("lockdown", name))
            reply: dict[str, Any] = {"Request": name}
            if name == "QueryType":
                reply["Type"] = "com.apple.mobile.lockdown"
            elif name == "GetValue":
                value = self._get_value(request.get("Domain"), request.get("Key"))
                if value is None:
                    reply["Error"] = "MissingValue"
                else:
                    reply.update({k: request[k] for k in ("Domain", "Key") if k in request})
                    reply["Value"] = value
            elif name == "StartSession":
                if not self.scenario.paired or request.get("HostID") != self.host_id:
                    reply["Error"] = "InvalidHostID"
                else:
                    reply.update(SessionID=str(uuid.uuid4()).upper(), EnableSessionSSL=True)
                    wire.plist_send(sock, reply)
                    sock = self._track(_server_tls().wrap_socket(sock, server_side=True), True)
                    held.append(sock)
                    session = True
                    continue
            elif name == "Pair":
                if self.scenario.passcode:
                    reply["Error"] = "PasswordProtected"
                elif not self.scenario.trust_on_pair:
                    reply["Error"] = "PairingDialogResponsePending"
                else:
                    self.scenario.paired = True
                    self.host_id = request["PairRecord"]["HostID"]
                    reply["EscrowBag"] = b"escrow"
            elif name == "StartService":
                error = self._refuse(request.get("Service", ""), session)
                if error:
                    reply["Error"] = error
                else:
                    with self._lock:
                        port = self._next_port
                        self._next_port += 1
                        self._ports[port] = request["Service"]
                    reply.update(Service=request["Service"], Port=port, EnableServiceSSL=True)
            elif name == "StopSession":
                reply["Result"] = "Success"
            elif name == "Goodbye":
                wire.plist_send(sock, {"Request": name, "Result": "Success"})
                return
            else:
                reply["Error"] = "InvalidRequest"
            wire.plist_send(sock, reply)

    def _get_value(self, domain: str | None, key: str | None) -> Any:
        if domain == "com.apple.security.mac.amfi":
            values: dict[str, Any] = {"DeveloperModeStatus": self.scenario.developer_mode}
        elif domain:
            values = {}
        else:
            values = self.values()
        return values if key is None else values.get(key)

    def _refuse(self, service: str, session: bool) -> str | None:
        """Why lockdownd would not start `service`, or None."""
        if not session:
            return "InvalidService"  # a service needs a paired session first
        if service in self.scenario.refused:
            return self.scenario.refused[service]
        if self.scenario.locked:
            return "PasswordProtected"
        if service in DEVELOPER_SERVICES and not (
            self.scenario.developer_mode and self.scenario.disk_image
        ):
            # Without Developer Mode or the disk image the developer services are not there:
            # lockdownd answers InvalidService (pymobiledevice3 maps it to InvalidServiceError).
            return "InvalidService"
        if service not in self.handlers:
            return "InvalidService"
        return None


@dataclass
class Connection:
    """A service connection as its handler sees it."""

    phone: FakePhone
    sock: Any
    service: str
    generation: int

    @property
    def pulled(self) -> bool:
        return self.generation != self.phone._generation or self.phone._stopped

    def recv_plist(self) -> dict[str, Any]:
        return wire.plist_recv(self.sock)

    def send_plist(self, body: dict[str, Any]) -> None:
        wire.plist_send(self.sock, body)

    def recv(self, size: int) -> bytes:
        return wire.recv_exactly(self.sock, size)

    def send(self, data: bytes) -> None:
        wire.send(self.sock, data)


_TLS: ssl.SSLContext | None = None
_TLS_LOCK = threading.Lock()


def _server_tls() -> ssl.SSLContext:
    """The phone's side of lockdownd's TLS: the device certificate from the pair record."""
    global _TLS
    with _TLS_LOCK:
        if _TLS is None:
            keys = pki.keys()
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            context.set_ciphers("ALL:@SECLEVEL=0")
            with tempfile.TemporaryDirectory() as folder:
                pem = Path(folder) / "device.pem"
                pem.write_bytes(keys.device_cert + keys.device_key)
                context.load_cert_chain(pem)
            _TLS = context
        return _TLS
