"""DVT over DTX on the fake phone: process control and the condition inducer.

The wire format is DTX as pymobiledevice3's own implementation reads it (pymobiledevice3/dtx:
`structs.DtxFragmentHeader` — magic 0x1F3D5B79, a 32-byte fragment header, a 16-byte payload
header, the aux as a primitive dictionary, the payload as an NSKeyedArchive; go-ios
ios/dtx_codec decodes the same layout). Messages are encoded and decoded with
pymobiledevice3's `DTXMessage` (its codec, not our backend's assumptions): the phone's side of
the conversation is what the client's reader and `dtx_method` stubs expect:

- channel 0: each side announces `_notifyOfPublishedCapabilities:`; the host opens a channel
  with `_requestChannelWithCode:identifier:` and gets an OK reply;
- processcontrol: `launchSuspendedProcessWithDevicePath:bundleIdentifier:environment:arguments:
  options:` → pid; `processIdentifierForBundleIdentifier:` → pid or 0; `sendSignal:toPid:` →
  reply; `killPid:` no reply;
- ConditionInducer: `availableConditionInducers` → groups of profiles; `enableConditionWith
  Identifier:profileIdentifier:` → true; `disableActiveCondition` no reply. A condition ends when
  the connection that set it closes (the backend holds that connection on purpose).

What an app does is the `ProcessModel`'s business (a plain pid table, or a virtual iPhone).
"""

from __future__ import annotations

import itertools
import struct
import tempfile
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pymobiledevice3.dtx.message import DTXMessage
from pymobiledevice3.dtx.ns_types import NSError
from pymobiledevice3.dtx.structs import DTXMessageType, DTXTransportFlags

from tests.fakephone import wire

if TYPE_CHECKING:
    from tests.fakephone.phone import Connection, FakePhone

MAGIC = 0x1F3D5B79
_FRAGMENT = struct.Struct("<IIHHIIIiI")

PROCESS_CONTROL = "com.apple.instruments.server.services.processcontrol"
CONDITION_INDUCER = "com.apple.instruments.server.services.ConditionInducer"
SCREENSHOT = "com.apple.instruments.server.services.screenshot"
# A 1×1 PNG: what `takeScreenshot` answers (pymobiledevice3 `ScreenshotService.take_screenshot`
# returns the bytes as they come).
PNG = bytes.fromhex(
    "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
    "1f15c4890000000d49444154789c6360000002000154a24f5d0000000049454e44ae426082"
)

# What the phone publishes on channel 0: identifiers with version numbers, the shape
# pymobiledevice3 sends and stores as `supported_identifiers` (the numbers are made up).
CAPABILITIES = {
    "com.apple.private.DTXConnection": 1,
    "com.apple.private.DTXBlockCompression": 2,
    PROCESS_CONTROL: 4,
    CONDITION_INDUCER: 1,
    SCREENSHOT: 2,
    "com.apple.instruments.server.services.deviceinfo": 111,
}

# The network-link profiles the inducer lists. The 100 %-loss profile as a phone answers it, as
# quoted in appium-ios-device's condition-inducer docs and go-ios's REST API examples
# (group SlowNetworkCondition, profile SlowNetwork100PctLoss, "100% packet loss"); the others
# are there so the backend has to find it by listing.
CONDITIONS = [
    {
        "identifier": "SlowNetworkCondition",
        "name": "Network Link",
        "isActive": False,
        "isDestructive": False,
        "isInternal": False,
        "profiles": [
            {
                "identifier": "SlowNetwork2GUrban",
                "name": "2G",
                "description": "2G, urban",
            },
            {
                "identifier": "SlowNetwork100PctLoss",
                "name": "100% packet loss",
                "description": "Name: 100% Loss Scenario\nDownlink Bandwidth: 0 Mbps\nDownlink "
                "Latency: 0 ms\nDownlink Packet Loss Ratio: 100%\nUplink Bandwidth: 0 Mbps\n"
                "Uplink Latency: 0 ms\nUplink Packet Loss Ratio: 100%",
            },
        ],
    },
    {
        "identifier": "ThermalCondition",
        "name": "Thermal State",
        "isActive": False,
        "profiles": [{"identifier": "ThermalFair", "name": "Fair", "description": "Fair"}],
    },
]


class ProcessModel:
    """What processes run on the phone. Alone, a pid table; with `virtual` (a VirtualIPhone,
    driven through its public verbs only), the virtual iPhone decides what the app does, and
    its log is the phone's log."""

    def __init__(self, phone: FakePhone, virtual: Any = None):
        self.phone, self.virtual = phone, virtual
        self._pids = itertools.count(700)
        self.running: dict[str, int] = {}
        self.launches: list[tuple[str, dict[str, str], list[str]]] = []
        self.condition: str | None = None
        self._lock = threading.RLock()
        self._apps_dir = Path(tempfile.mkdtemp(prefix="fakephone-apps-"))
        self._forward: threading.Thread | None = None
        self._stream: Any = None
        self._stop = threading.Event()
        self._ticker: threading.Thread | None = None
        self._start_real = time.monotonic()
        self._start_virtual = virtual.clock.now() if virtual is not None else 0.0
        if virtual is not None:
            self._stream = virtual.log_stream()
            self._forward = threading.Thread(
                target=self._forward_log, name="fakephone-virtual-log", daemon=True
            )
            self._forward.start()
            self._ticker = threading.Thread(target=self._tick, name="fakephone-clock", daemon=True)
            self._ticker.start()

    def _tick(self) -> None:
        """The virtual iPhone's time runs with the wall clock, as a phone's does: its clock is
        moved on (through the Clock contract, `wait`) every few milliseconds, and before each
        verb, so it never lags the host's clock the backend measured the phone's against."""
        while not self._stop.wait(0.02):
            with self._lock:
                self._catch_up()

    def _catch_up(self) -> None:
        if self.virtual is None:
            return
        target = self._start_virtual + (time.monotonic() - self._start_real)
        never = threading.Event()
        while self.virtual.clock.now() < target:
            self.virtual.clock.wait(target, never)

    def evaluate(self, session: Any, command: str) -> str:
        """A debugger command on the virtual iPhone, between clock ticks."""
        with self._lock:
            self._catch_up()
            return session.evaluate(command)

    def now(self) -> float | None:
        if self.virtual is None:
            return None
        with self._lock:
            self._catch_up()
            return self.virtual.clock.now()

    def launch(self, bundle_id: str, env: dict[str, str], args: list[str]) -> int:
        with self._lock:
            self.launches.append((bundle_id, dict(env), list(args)))
            self._catch_up()
            if bundle_id not in self.phone.apps:
                return 0  # nothing to launch: the client asserts on the falsy pid
            if self.virtual is None:
                pid = next(self._pids)
                self.running[bundle_id] = pid
                return pid
            self._installed_in_virtual(bundle_id)
            return self.virtual.launch(bundle_id, env, args)

    def pid(self, bundle_id: str) -> int:
        with self._lock:
            if self.virtual is None:
                return self.running.get(bundle_id, 0)
            return self.virtual.pid(bundle_id) or 0

    def signal(self, pid: int) -> None:
        with self._lock:
            if self.virtual is None:
                self.running = {b: p for b, p in self.running.items() if p != pid}
            elif pid in {self.virtual.pid(b) for b in self.phone.apps}:
                self._catch_up()
                self.virtual.kill(pid)

    def uninstalled(self, bundle_id: str) -> None:
        with self._lock:
            self.running.pop(bundle_id, None)
            if self.virtual is not None:
                self.virtual.uninstall(bundle_id)

    def set_condition(self, profile: str | None) -> None:
        with self._lock:
            self.condition = profile
            self._catch_up()
            if self.virtual is not None:
                if profile is None:
                    self.virtual.clear_network()
                else:
                    self.virtual.set_network("offline")

    def close(self) -> None:
        self._stop.set()
        if self._ticker is not None:
            self._ticker.join(10)
        if self._stream is not None:
            self._stream.close()
        if self._forward is not None:
            self._forward.join(10)
        if self.virtual is not None:
            self.virtual.close()

    def _installed_in_virtual(self, bundle_id: str) -> None:
        if self.virtual.installed(bundle_id):
            return
        package = self.phone.packages.get(bundle_id)
        if package is None:
            return
        path = self._apps_dir / f"{bundle_id}.ipa"
        path.write_bytes(package)
        self.virtual.install(path)

    def _forward_log(self) -> None:
        from tests.fakephone.phone import LogLine

        for entry in self._stream:
            self.phone.log(
                LogLine(
                    entry.message,
                    process=entry.process,
                    pid=entry.pid,
                    subsystem=entry.subsystem,
                    category=entry.category,
                    level=entry.level,
                    when=entry.time,
                    image=entry.image,
                )
            )


def _recv_message(conn: Connection) -> tuple[DTXMessage, int, int, int, int]:
    """One message: (message, identifier, conversation index, channel code, flags)."""
    magic, size, index, count, data_size, ident, conv, channel, flags = _FRAGMENT.unpack(
        conn.recv(_FRAGMENT.size)
    )
    if magic != MAGIC:
        raise wire.Closed("not DTX")
    if size > _FRAGMENT.size:
        conn.recv(size - _FRAGMENT.size)
    body = conn.recv(data_size) if (count == 1 or index > 0) else b""
    parts = [body] if count == 1 else []
    while count > 1 and len(parts) < count - 1:  # fragments 1..n carry the body
        _m, size, index, _c, data_size, _i, _cv, _ch, _f = _FRAGMENT.unpack(
            conn.recv(_FRAGMENT.size)
        )
        parts.append(conn.recv(data_size))
    raw = b"".join(parts)
    msg_type, _a, _b, _r, aux_size, total, _flags = struct.unpack("<BBBBIII", raw[:16])
    message = DTXMessage(
        type=DTXMessageType(msg_type),
        aux_data=memoryview(raw[16 : 16 + aux_size]),
        payload_data=memoryview(raw[16 + aux_size : 16 + total]),
    )
    return message, ident, conv, channel, flags


def _send(
    conn: Connection,
    msg_type: DTXMessageType,
    *,
    identifier: int,
    conversation: int,
    channel: int,
    payload: Any = None,
    aux: list[Any] | None = None,
    expects_reply: bool = False,
) -> None:
    message = DTXMessage(type=msg_type)
    message.payload = payload
    message.aux = aux or []
    body = b"".join(bytes(chunk) for chunk in message.chunks())
    flags = int(DTXTransportFlags.EXPECTS_REPLY) if expects_reply else 0
    header = _FRAGMENT.pack(
        MAGIC, _FRAGMENT.size, 0, 1, len(body), identifier, conversation, channel, flags
    )
    conn.send(header + body)


def dvt(phone: FakePhone, conn: Connection) -> None:
    """The instruments server: capability handshake, channels, and their methods."""
    model = phone.process_model()
    channels: dict[int, str] = {}
    condition_here = False  # this connection set the active condition
    outgoing = itertools.count(1)
    try:
        _send(
            conn,
            DTXMessageType.DISPATCH,
            identifier=next(outgoing),
            conversation=0,
            channel=0,
            payload="_notifyOfPublishedCapabilities:",
            aux=[CAPABILITIES],
        )
        while True:
            message, ident, conv, channel, flags = _recv_message(conn)
            if conv != 0:
                continue  # a reply to our own notification (none expected)
            selector = message.payload if message.type == DTXMessageType.DISPATCH else None
            args = list(message.aux)
            phone.requests.append(("dvt", selector))
            reply = _answer(phone, model, channels, channel, selector, args)
            if selector == "enableConditionWithIdentifier:profileIdentifier:":
                condition_here = True
            if selector == "disableActiveCondition":
                condition_here = False
            if flags & int(DTXTransportFlags.EXPECTS_REPLY):
                kind, value = reply
                _send(
                    conn,
                    kind,
                    identifier=ident,
                    conversation=conv + 1,
                    channel=channel,
                    payload=value,
                )
    except wire.Closed:
        pass
    finally:
        if condition_here:
            model.set_condition(None)  # the condition ends with the connection that set it


def _answer(
    phone: FakePhone,
    model: ProcessModel,
    channels: dict[int, str],
    channel: int,
    selector: Any,
    args: list[Any],
) -> tuple[DTXMessageType, Any]:
    if channel == 0:
        if selector == "_requestChannelWithCode:identifier:":
            code, identifier = int(args[0]), str(args[1])
            if identifier not in CAPABILITIES:
                return DTXMessageType.ERROR, NSError(
                    1, "DTXMessage", {"NSLocalizedDescription": f"no service {identifier}"}
                )
            channels[code] = identifier
        return DTXMessageType.OK, None
    service = channels.get(channel)
    if service == PROCESS_CONTROL:
        if selector == (
            "launchSuspendedProcessWithDevicePath:bundleIdentifier:environment:arguments:options:"
        ):
            _path, bundle_id, env, arguments, _options = args
            phone.reached("launch")
            pid = model.launch(str(bundle_id), dict(env or {}), list(arguments or []))
            return DTXMessageType.OBJECT, pid
        if selector == "processIdentifierForBundleIdentifier:":
            return DTXMessageType.OBJECT, model.pid(str(args[0]))
        if selector in ("sendSignal:toPid:", "killPid:"):
            model.signal(int(args[-1]))
            return DTXMessageType.OBJECT, None
        return DTXMessageType.OK, None
    if service == SCREENSHOT and selector == "takeScreenshot":
        return DTXMessageType.OBJECT, PNG
    if service == CONDITION_INDUCER:
        if selector == "availableConditionInducers":
            groups = [dict(g, profiles=[dict(p) for p in g["profiles"]]) for g in CONDITIONS]
            for group in groups:
                group["isActive"] = any(
                    p["identifier"] == model.condition for p in group["profiles"]
                )
            return DTXMessageType.OBJECT, groups
        if selector == "enableConditionWithIdentifier:profileIdentifier:":
            model.set_condition(str(args[1]))
            return DTXMessageType.OBJECT, True
        if selector == "disableActiveCondition":
            model.set_condition(None)
            return DTXMessageType.OK, None
    return DTXMessageType.ERROR, NSError(
        1, "DTXMessage", {"NSLocalizedDescription": f"unknown selector {selector!r}"}
    )
