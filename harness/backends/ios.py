"""The `ios` backend: real iPhones through pymobiledevice3, behind the synchronous Device contract.

Each phone gets one asyncio loop on a thread of its own (`DeviceLoop`); every verb is a
coroutine run there, retried on transient failures (a dropped connection) and translated into a
harness error that says the fix (`ios_errors`). How a phone is reached:

- lockdown over usbmux (this Mac's usbmuxd, or `usbmux: HOST:PORT`): identity, installs, the
  log, diagnostics; on iOS below 17 also the developer services (DVT, debugserver);
- on iOS 17 and later the developer services go through the RSD tunnel that tunneld holds
  (`tunnel: tunneld[@HOST:PORT]`): DVT, debugserver, the HID buttons, the lock state;
- WebDriverAgent (`wda: URL`) for what only the UI can do: the app-switcher swipe, unlock,
  and Home below iOS 17.

`IosDevice.open` is all or nothing: a phone declared but not attached, not trusted, locked,
without Developer Mode or its disk image, or without its tunnel raises `DeviceUnavailable`
naming the fix (the plugin skips its tests); a phone running another iOS than devices.yaml
declares opens with a line in `warnings`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import threading
import time
import uuid
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from pymobiledevice3.exceptions import (
    AppInstallError,
    InvalidServiceError,
    StartServiceError,
    WdaError,
)

from harness.appbundle import read_app
from harness.backends.ios_apps import (
    InstallRecords,
    Progress,
    ShownProgress,
    Signing,
    UploadProgress,
    already_installed,
    package,
    preflight,
    read_signing,
)
from harness.backends.ios_errors import Where, fix_disk_image, fix_tunnel, fix_wda, retrying
from harness.backends.ios_errors import fix_developer_mode as _fix_developer_mode
from harness.backends.ios_errors import translate as _translate
from harness.backends.ios_log import LogReader, gap_entry
from harness.backends.ios_loop import DeviceLoop
from harness.clock import WallClock
from harness.debugger import DebugSession
from harness.device import NETWORK_PROFILES, DeviceInfo
from harness.errors import (
    AppError,
    DeviceUnavailable,
    HarnessError,
    InfraError,
    Unsupported,
    UsageError,
)
from harness.inventory import Address, DeviceRecord
from harness.logstream import QueueLogStream
from harness.udid import same_udid
from harness.versions import is_version, version_key

log = logging.getLogger("bgharness.ios")
T = TypeVar("T")

# Seconds a verb may take before it counts as a phone that stopped answering.
OPEN_TIMEOUT_S = 60.0
CALL_TIMEOUT_S = 30.0
LAUNCH_TIMEOUT_S = 60.0
INSTALL_TIMEOUT_S = 900.0
CLOSE_TIMEOUT_S = 10.0

DEBUGSERVER_BELOW_17 = "com.apple.debugserver.DVTSecureSocketProxy"
DEBUGSERVER_17 = "com.apple.internal.dt.remote.debugproxy"
STAGING = "/PublicStaging/bgharness"

# HID buttons on the Consumer page, with the hold time pymobiledevice3's `hid button` uses.
CONSUMER_PAGE = 0x0C
HOME = (0x40, 0.05)  # Menu
LOCK = (0x30, 0.5)  # Power, held long enough for iOS to sleep
HID_DOWN, HID_UP = 1, 2  # pymobiledevice3.remote.core_device.hid_service.HID_BUTTON_STATE_*
HID_SETTLE_S = 0.1  # dtuhidd drops the last event if the connection closes at once

# iPhones with a Home button: the app switcher opens with a double press, not a swipe up.
HOME_BUTTON_MODELS = frozenset(
    {"iPhone8,1", "iPhone8,2", "iPhone8,4", "iPhone9,1", "iPhone9,2", "iPhone9,3", "iPhone9,4"}
    | {"iPhone10,1", "iPhone10,2", "iPhone10,4", "iPhone10,5", "iPhone12,8", "iPhone14,6"}
)
FORCE_QUIT_CONFIRM_S = 5.0

# The condition profile that takes the network away: "100% packet loss" (found by listing).
_FULL_LOSS = re.compile(
    r"100\s*(%|pct|percent)\s*(packet\s*)?loss|loss(\s*ratio)?\s*:?\s*100\s*%", re.IGNORECASE
)


@dataclass(frozen=True)
class Pmd3:
    """Every pymobiledevice3 entry point the backend calls, in one place.

    `Pmd3.real()` holds the real ones. Tests pass `unittest.mock.create_autospec` fakes of the
    same objects, so a renamed method or a changed signature in pymobiledevice3 fails a test.
    """

    list_devices: Any
    create_using_usbmux: Any
    get_tunneld_tunnels: Any
    get_tunneld_device_by_udid: Any
    InstallationProxyService: Any
    AfcService: Any
    OsTraceService: Any
    DiagnosticsService: Any
    MobileImageMounterService: Any
    DvtProvider: Any
    ProcessControl: Any
    ConditionInducer: Any
    Screenshot: Any
    IndigoHIDService: Any
    DeviceInfoService: Any
    LockdownTcpForwarder: Any
    WdaClient: Any

    @classmethod
    def real(cls) -> Pmd3:
        from pymobiledevice3.lockdown import create_using_usbmux
        from pymobiledevice3.remote.core_device.device_info import DeviceInfoService
        from pymobiledevice3.remote.core_device.hid_service import IndigoHIDService
        from pymobiledevice3.services.afc import AfcService
        from pymobiledevice3.services.diagnostics import DiagnosticsService
        from pymobiledevice3.services.dvt.instruments.condition_inducer import ConditionInducer
        from pymobiledevice3.services.dvt.instruments.dvt_provider import DvtProvider
        from pymobiledevice3.services.dvt.instruments.process_control import ProcessControl
        from pymobiledevice3.services.dvt.instruments.screenshot import Screenshot
        from pymobiledevice3.services.installation_proxy import InstallationProxyService
        from pymobiledevice3.services.mobile_image_mounter import MobileImageMounterService
        from pymobiledevice3.services.os_trace import OsTraceService
        from pymobiledevice3.services.wda import WdaClient
        from pymobiledevice3.tcp_forwarder import LockdownTcpForwarder
        from pymobiledevice3.tunneld.api import get_tunneld_device_by_udid, get_tunneld_tunnels
        from pymobiledevice3.usbmux import list_devices

        return cls(
            list_devices=list_devices,
            create_using_usbmux=create_using_usbmux,
            get_tunneld_tunnels=get_tunneld_tunnels,
            get_tunneld_device_by_udid=get_tunneld_device_by_udid,
            InstallationProxyService=InstallationProxyService,
            AfcService=AfcService,
            OsTraceService=OsTraceService,
            DiagnosticsService=DiagnosticsService,
            MobileImageMounterService=MobileImageMounterService,
            DvtProvider=DvtProvider,
            ProcessControl=ProcessControl,
            ConditionInducer=ConditionInducer,
            Screenshot=Screenshot,
            IndigoHIDService=IndigoHIDService,
            DeviceInfoService=DeviceInfoService,
            LockdownTcpForwarder=LockdownTcpForwarder,
            WdaClient=WdaClient,
        )


@dataclass(frozen=True)
class IosDeviceInfo(DeviceInfo):
    """DeviceInfo plus what a phone can say of itself: its own name and its battery."""

    device_name: str = ""
    battery_percent: float | None = None
    charging: bool | None = None


class DeviceClock(WallClock):
    """The phone's clock: the host's wall clock plus the offset measured when it was opened.

    Log entries carry the phone's time, so marks and waits must too.
    """

    def __init__(self, offset: float = 0.0):
        self.offset = offset

    def now(self) -> float:
        return time.time() + self.offset

    def wait(self, deadline: float, woken: threading.Event) -> None:
        woken.wait(timeout=max(0.0, deadline - self.now()))
        woken.clear()


def declared_mismatches(record: DeviceRecord, ios: str, build: str, model: str) -> list[str]:
    """How the phone differs from what devices.yaml declares: warnings for the report, never
    errors (the phone is tested as it is, and the report says which iOS that was)."""
    said = []
    if record.ios and is_version(ios) and version_key(record.ios) != version_key(ios):
        said.append(
            f"devices.yaml declares iOS {record.ios}, the phone runs iOS {ios} ({build}); "
            f"results are for {ios}: update `ios:` in devices.yaml"
        )
    if record.model and model and record.model != model:
        said.append(
            f"devices.yaml declares model {record.model}, the phone is a {model}: update "
            "`model:` in devices.yaml"
        )
    return said


def offline_profile(groups: list[dict[str, Any]]) -> str | None:
    """The identifier of the 100 %-loss profile among the condition groups the phone lists."""
    for group in groups:
        for profile in group.get("profiles") or ():
            text = " ".join(str(profile.get(k, "")) for k in ("identifier", "name", "description"))
            if _FULL_LOSS.search(text) and profile.get("identifier"):
                return str(profile["identifier"])
    return None


def parse_lock_state(state: Any) -> bool | None:
    """Whether CoreDevice's lock state says the phone is locked; None when it does not say.

    The reply's shape is undocumented; `passcodeRequired` is what devicectl reports.
    """
    if not isinstance(state, dict):
        return None
    for key in ("isLocked", "locked", "deviceLocked", "passcodeRequired"):
        if isinstance(state.get(key), bool):
            return state[key]
    return None


@dataclass
class _Facts:
    """What the phone said of itself when it was opened."""

    version: str
    build: str
    model: str
    device_name: str

    @property
    def major(self) -> int:
        return version_key(self.version)[0]


@dataclass
class _Dvt:
    """One instruments connection and the channels the verbs reuse on it."""

    provider: Any
    process_control: Any
    screenshot: Any = None


@dataclass
class _Held:
    """A connection kept open on purpose: the condition ends, or the forward stops, with it.

    `provider` is its own lockdown client or RSD; `connection` the DvtProvider (closed) or the
    port forwarder (stopped, its `task` awaited); `service` the condition inducer, if any.
    """

    provider: Any
    connection: Any
    service: Any = None
    task: Any = None
    detail: str = ""


@dataclass
class _Wda:
    client: Any
    session: str | None = None


class IosDevice:
    """A Device (harness.device) driving one real iPhone; see the module docstring."""

    def __init__(self, record: DeviceRecord, state_dir: Path, pmd3: Pmd3, loop: DeviceLoop):
        if not record.udid:
            raise UsageError(f"{record.name}: an ios device needs a udid in devices.yaml")
        self.name = record.name
        self.warnings: list[str] = []  # for the report: iOS version mismatch, preflight findings
        self.progress: Progress | None = None  # install progress; shown on stderr when None
        self._record = record
        self._udid = record.udid
        self._where = Where(record.name, record.udid, record.usbmux, record.tunnel, record.wda)
        self._usbmux = f"{record.usbmux.host}:{record.usbmux.port}" if record.usbmux else None
        self._pmd3 = pmd3
        self._loop = loop
        self._lock = threading.RLock()
        self._installs = InstallRecords(state_dir, record.udid)
        self._clock = DeviceClock()
        self._opening = False
        self._closed = False
        self._facts: _Facts | None = None
        self._lockdown: Any = None
        self._rsd: Any = None
        self._dvt: _Dvt | None = None
        self._condition: _Held | None = None
        self._forward: _Held | None = None
        self._wda: _Wda | None = None
        self._streams: list[IosLogStream] = []
        self._launched: dict[int, str] = {}  # pid → bundle id, for the debugger's preflight
        self._signing: dict[str, Signing] = {}

    @classmethod
    def open(cls, record: DeviceRecord, state_dir: Path, pmd3: Pmd3 | None = None) -> IosDevice:
        """Connect, or raise and leave nothing behind (no connection, no thread)."""
        loop = DeviceLoop(f"bgharness-ios-{record.name}").start()
        try:
            device = cls(record, state_dir, pmd3 or Pmd3.real(), loop)
        except BaseException:
            loop.stop()
            raise
        device._opening = True
        try:
            device._call("open", device._connect, timeout=OPEN_TIMEOUT_S)
        except BaseException:
            device.close()
            raise
        device._opening = False
        return device

    # -- Device contract: identity, apps ------------------------------------------------------

    @property
    def clock(self) -> DeviceClock:
        return self._clock

    def info(self) -> IosDeviceInfo:
        facts = self._require_facts()
        battery = self._call("info", self._battery)
        percent, charging = _battery_state(battery)
        return IosDeviceInfo(
            udid=self._udid,
            name=self.name,
            model=facts.model,
            ios_version=facts.version,
            ios_build=facts.build,
            backend="ios",
            capabilities=self._capabilities(),
            device_name=facts.device_name,
            battery_percent=percent,
            charging=charging,
        )

    def install(self, app: Path, progress: Progress | None = None) -> bool:
        app = Path(app)
        progress = progress or self.progress
        if app.suffix.lower() not in (".ipa", ".app"):
            raise AppError(
                f"{self.name}: {app} is not an .ipa or .app: a real iPhone installs only a built "
                "app; point the app's path in devices.yaml at the .ipa or .app Xcode built"
            )
        info = read_app(app)
        signing = read_signing(app, info.executable)
        errors, warnings = preflight(info, signing, self._udid, self._require_facts().version)
        if errors:
            raise AppError(f"{self.name}: cannot install {app.name}: " + "; ".join(errors))
        for line in warnings:
            self._warn(f"{self.name}: {line}")
        self._signing[info.bundle_id] = signing
        on_device = self._call("install", lambda: self._lookup(info.bundle_id))
        if already_installed(info, self._installs.get(info.bundle_id), on_device):
            log.info("%s: %s %s is already installed", self.name, info.bundle_id, info.build)
            return False
        data = package(app)
        shown = None
        if progress is None:
            progress = shown = ShownProgress(f"{self.name}: install {info.bundle_id}")
        try:
            self._call(
                "install",
                lambda: self._install(data, progress),
                timeout=INSTALL_TIMEOUT_S,
            )
        finally:
            if shown is not None:
                shown.close()
        on_device = self._call("install", lambda: self._lookup(info.bundle_id))
        if on_device is None:
            raise InfraError(
                f"{self.name}: the installer reported success but does not list "
                f"{info.bundle_id}: look at the phone, then install again"
            )
        self._installs.put(info, on_device)
        return True

    def uninstall(self, bundle_id: str) -> None:
        self._call("uninstall", lambda: self._uninstall(bundle_id))
        self._installs.drop(bundle_id)

    def installed(self, bundle_id: str) -> bool:
        return self._call("installed", lambda: self._lookup(bundle_id)) is not None

    # -- Device contract: processes -----------------------------------------------------------

    def launch(self, bundle_id: str, env: dict[str, str], args: list[str]) -> int:
        pid = self._call(
            "launch", lambda: self._launch(bundle_id, env, args), timeout=LAUNCH_TIMEOUT_S
        )
        self._launched[pid] = bundle_id
        return pid

    def pid(self, bundle_id: str) -> int | None:
        async def op() -> int | None:
            control = await self._process_control()
            return await control.process_identifier_for_bundle_identifier(bundle_id) or None

        return self._call("pid", op)

    def kill(self, pid: int) -> None:
        async def op() -> None:
            control = await self._process_control()
            await control.kill(pid)  # sendSignal:toPid: SIGKILL, waits for the phone's answer

        self._call("kill", op)

    def background(self) -> None:
        if self._hid_available():
            self._call("background", lambda: self._press(*HOME))
        elif self._record.wda:
            self._wda_call(lambda client, session: client.press_button("home", session))
        else:
            raise Unsupported(self.name, "background (Home)", self._ui_fix(hid=True))

    def tap(self, element: str) -> None:
        """A person's tap on the element with this accessibility identifier (WebDriverAgent)."""
        if not self._record.wda:
            raise Unsupported(self.name, f"tap {element}", self._ui_fix(hid=False))
        self._wda_call(lambda c, s: c.click(c.find_element("accessibility id", element, s), s))

    def answer_prompt(self, bundle_id: str, choice: str) -> None:
        """The continued task's "continue?" prompt (facts B3 [M]): its button, by label, via
        WebDriverAgent (uncertain: the buttons' labels are the ones seen, Continue and Stop)."""
        if not self._record.wda:
            raise Unsupported(self.name, f"answer the prompt ({choice})", self._ui_fix(hid=False))
        label = choice.capitalize()
        self._wda_call(lambda c, s: c.click(c.find_element("accessibility id", label, s), s))

    def force_quit(self, bundle_id: str) -> None:
        """The user's swipe in the app switcher, through WebDriverAgent; never a kill.

        The app is brought to the front first (a launch that keeps the running process), so its
        card is the one in the middle of the switcher; the swipe is confirmed by the process
        being gone afterwards.
        """
        if not self._record.wda:
            raise Unsupported(
                self.name, "force_quit (the app-switcher swipe)", self._ui_fix(hid=False)
            )
        pid = self.pid(bundle_id)
        if pid is None:
            raise UsageError(
                f"{self.name}: {bundle_id} is not running: force_quit swipes the app's card away "
                "in the app switcher, so launch it first"
            )

        async def bring_to_front() -> int:
            control = await self._process_control()
            return await control.launch(bundle_id, kill_existing=False)

        self._call("force_quit", bring_to_front, timeout=LAUNCH_TIMEOUT_S)
        model = self._require_facts().model
        self._wda_call(lambda c, s: _swipe_away(c, s, home_button=model in HOME_BUTTON_MODELS))
        deadline = time.monotonic() + FORCE_QUIT_CONFIRM_S
        while self.pid(bundle_id) is not None:
            if time.monotonic() > deadline:
                raise InfraError(
                    f"{self.name}: force_quit {bundle_id}: the app-switcher swipe did not end the "
                    "app (the switcher layout may differ on this phone); it is still running. "
                    "Check WebDriverAgent's screenshot of the switcher and report it"
                )
            _pause(0.25)

    # -- Device contract: lock, network -------------------------------------------------------

    def lock(self) -> None:
        if not self._can_unlock():
            raise Unsupported(
                self.name,
                "lock",
                "bgharness could not unlock this phone again, so every later test would find it "
                "locked: on a lab phone without a passcode set `unlock: true` in devices.yaml"
                + ("" if self._hid_available() else " and `wda:` (WebDriverAgent)"),
            )
        if self._hid_available():
            self._call("lock", lambda: self._press(*LOCK))
        else:
            self._call("lock", self._sleep)

    def unlock(self) -> None:
        if not self._record.unlock:
            raise Unsupported(
                self.name,
                "unlock",
                "bgharness cannot type a passcode: on a lab phone without a passcode set `unlock: "
                "true` in devices.yaml",
            )
        if self._record.wda:
            self._wda_call(lambda client, session: client.unlock(session))
        elif self._hid_available():
            # Home wakes the screen, a second Home dismisses the lock screen (no passcode).
            self._call("unlock", lambda: self._press(*HOME))
            self._call("unlock", lambda: self._press(*HOME))
        else:
            raise Unsupported(self.name, "unlock", self._ui_fix(hid=True))

    def locked(self) -> bool:
        if not self._hid_available():
            raise Unsupported(
                self.name,
                "locked()",
                "only iOS 17 and later say whether they are locked (CoreDevice, through the "
                "tunnel); this phone runs iOS " + self._require_facts().version,
            )

        async def op() -> Any:
            async with self._pmd3.DeviceInfoService(await self._developer()) as service:
                return await service.get_lockstate()

        state = self._call("locked", op)
        answer = parse_lock_state(state)
        if answer is None:
            raise Unsupported(
                self.name,
                "locked()",
                f"the phone's lock state reply has no field bgharness knows ({state!r}); "
                "please report it with the phone's iOS version",
            )
        return answer

    def set_network(self, profile: str) -> None:
        if profile not in NETWORK_PROFILES:
            raise UsageError(
                f"unknown network profile {profile!r}; known: {', '.join(NETWORK_PROFILES)}"
            )
        if self._condition is not None:
            return  # the one profile there is, already held
        self._call("set_network", self._induce_offline)

    def clear_network(self) -> None:
        self._call("clear_network", self._clear_condition)

    # -- Device contract: restart, power, settings, memory (issue 11) ---------------------------

    def reboot(self) -> None:
        """Restart through the diagnostics service; the phone then needs its passcode once
        (before first unlock). Reconnecting after the restart is not automated yet."""

        async def op() -> None:
            async with self._pmd3.DiagnosticsService(await self._lockdown_client()) as diag:
                await diag.restart()

        self._call("reboot", op)

    def set_power(self, source: str) -> None:
        raise Unsupported(
            self.name,
            f"set_power {source}",
            "a phone's power comes through its "
            "cable: this needs a USB hub whose ports bgharness can switch (not "
            "supported yet); run power scenarios on the virtual iPhone",
        )

    def set_low_power_mode(self, on: bool) -> None:
        raise Unsupported(
            self.name,
            "Low Power Mode",
            "needs Settings › Battery driven through "
            "WebDriverAgent, which bgharness does not automate yet",
        )

    def set_background_refresh(self, on: bool) -> None:
        raise Unsupported(
            self.name,
            "Background App Refresh",
            "needs Settings › General › "
            "Background App Refresh driven through WebDriverAgent (not automated yet)",
        )

    def set_memory_pressure(self, on: bool) -> None:
        raise Unsupported(
            self.name,
            "memory pressure",
            "needs a companion app that allocates "
            "memory in the foreground (not built yet); the probe's allocate_mb "
            "measures the app's own limit",
        )

    # -- Device contract: log, debugger, screen -----------------------------------------------

    def log_stream(self) -> IosLogStream:
        stream = IosLogStream(self.name)
        reader = LogReader(self._new_lockdown, self._pmd3.OsTraceService, stream)
        stream.start(reader)
        self._streams = [s for s in self._streams if not s.closed] + [stream]
        return stream

    def debugger(self, pid: int) -> DebugSession:
        """Attach lldb (harness.lldb) to `pid` through the phone's debugserver."""
        bundle_id = self._launched.get(pid)
        signing = self._signing.get(bundle_id or "")
        if signing is not None and signing.get_task_allow is False:
            raise AppError(
                f"{self.name}: cannot attach the debugger to {bundle_id}: the build has no "
                "get-task-allow entitlement: install a development-signed build (Debug "
                "configuration, Apple Development certificate)"
            )
        endpoint = self._call("debugger", self._debug_endpoint)
        from harness.lldb import LldbBridge  # the lldb bridge, loaded only when a test triggers

        return LldbBridge(endpoint, platform="remote-ios", device=self.name).attach(pid)

    def debug_endpoint(self) -> str:
        """Where lldb's `process connect connect://…` reaches the phone's debugserver."""
        return self._call("debugger", self._debug_endpoint)

    def screenshot(self) -> bytes:
        async def op() -> bytes:
            dvt = await self._dvt_session()
            if dvt.screenshot is None:
                dvt.screenshot = self._pmd3.Screenshot(dvt.provider)
                await dvt.screenshot.connect()
            return await dvt.screenshot.get_screenshot()

        return self._call("screenshot", op)

    def close(self) -> None:
        """Clear the network condition, stop the log readers, close every connection."""
        if self._closed:
            return
        self._closed = True
        try:
            if self._condition is not None:
                try:
                    self._call("clear_network", self._clear_condition, retry=False)
                except HarnessError as exc:
                    log.warning("%s: could not clear the network condition: %s", self.name, exc)
        finally:
            for stream in self._streams:
                stream.close()
            with contextlib.suppress(Exception):
                self._loop.run(self._disconnect(), CLOSE_TIMEOUT_S)
            self._loop.stop()

    # -- Calling into the loop ----------------------------------------------------------------

    def _call(
        self,
        verb: str,
        make: Callable[[], Coroutine[Any, Any, T]],
        *,
        timeout: float = CALL_TIMEOUT_S,
        retry: bool = True,
    ) -> T:
        """Run `make()` on the loop, retried on transient failures, failures translated."""

        def once() -> T:
            return self._loop.run(make(), timeout)

        with self._lock:
            try:
                if not retry:
                    return once()
                return retrying(before_retry=self._drop_connections)(once)
            except Exception as exc:
                error = _translate(exc, self._where, verb, opening=self._opening)
                if error is None or error is exc:
                    raise
                raise error from exc

    def _drop_connections(self) -> None:
        with contextlib.suppress(Exception):
            self._loop.run(self._disconnect(keep_held=True), CLOSE_TIMEOUT_S)

    def _lost(self, message: str) -> HarnessError:
        """Cannot reach something the phone needs: skipped while opening, infra afterwards."""
        return DeviceUnavailable(message) if self._opening else InfraError(message)

    def _wda_call(self, action: Callable[[Any, str], T]) -> T:
        """Run a WebDriverAgent request (plain HTTP, on the caller's thread), retried when the
        connection drops; an expired WDA session is replaced once."""
        with self._lock:
            try:
                return retrying()(lambda: self._wda_once(action))
            except Exception as exc:
                error = _translate(exc, self._where, "WebDriverAgent", opening=False)
                if error is None:
                    raise
                raise error from exc

    def _wda_once(self, action: Callable[[Any, str], T]) -> T:
        if self._wda is None:
            self._wda = _Wda(self._pmd3.WdaClient(base_url=self._record.wda or ""))
        wda = self._wda
        session = wda.session
        fresh = session is None
        if session is None:
            session = wda.session = wda.client.start_session()
        try:
            return action(wda.client, session)
        except WdaError:
            wda.session = None
            if fresh:
                raise
            wda.session = wda.client.start_session()  # the old session had expired
            return action(wda.client, wda.session)

    # -- Connections (coroutines on the loop) -------------------------------------------------

    async def _new_lockdown(self) -> Any:
        """A fresh lockdown client; asks for the Trust dialog but never waits for it."""
        return await self._pmd3.create_using_usbmux(
            serial=self._udid, autopair=True, pair_timeout=0, usbmux_address=self._usbmux
        )

    async def _lockdown_client(self) -> Any:
        if self._lockdown is None:
            self._lockdown = await self._new_lockdown()
        return self._lockdown

    async def _connect(self) -> None:
        """Open: lockdown, the phone's facts, Developer Mode, the disk image, the tunnel."""
        lockdown = await self._lockdown_client()
        values = lockdown.all_values
        facts = _Facts(
            version=str(values.get("ProductVersion") or "0"),
            build=str(values.get("BuildVersion") or ""),
            model=str(values.get("ProductType") or ""),
            device_name=str(values.get("DeviceName") or ""),
        )
        self._facts = facts
        now = await lockdown.get_value(key="TimeIntervalSince1970")
        if isinstance(now, (int, float)):
            self._clock = DeviceClock(float(now) - time.time())
        for line in declared_mismatches(self._record, facts.version, facts.build, facts.model):
            self._warn(f"{self.name}: {line}")
        if facts.major >= 16 and not await lockdown.get_developer_mode_status():
            raise self._lost(
                f"{self.name}: Developer Mode is off: {_fix_developer_mode(self._where)}"
            )
        if facts.major >= 17 and self._record.tunnel is None:
            raise Unsupported(
                self.name,
                f"testing on iOS {facts.version} without a tunnel",
                fix_tunnel(self._where),
            )
        if not await self._disk_image_mounted(lockdown):
            raise self._lost(
                f"{self.name}: the developer disk image is not mounted: "
                f"{fix_disk_image(self._where)}"
            )
        await self._developer()

    async def _disk_image_mounted(self, lockdown: Any) -> bool:
        facts = self._require_facts()
        kind = "Developer" if facts.major < 17 else "Personalized"
        async with self._pmd3.MobileImageMounterService(lockdown) as mounter:
            return await mounter.is_image_mounted(kind)

    async def _developer(self) -> Any:
        """The provider of developer services: lockdown below iOS 17, the tunnel's RSD from 17."""
        if self._require_facts().major < 17:
            return await self._lockdown_client()
        if self._rsd is None:
            self._rsd = await self._tunnel_rsd()
        return self._rsd

    async def _own_developer_provider(self) -> Any:
        """A provider only its holder uses (a held condition, a port forward) and closes."""
        if self._require_facts().major < 17:
            return await self._new_lockdown()
        return await self._tunnel_rsd()

    async def _tunnel_rsd(self) -> Any:
        """The phone's RSD from tunneld (which serves one tunnel per attached iOS 17+ phone)."""
        address = self._record.tunnel
        if address is None:
            raise Unsupported(self.name, "developer services on iOS 17+", fix_tunnel(self._where))
        tunnels = await self._pmd3.get_tunneld_tunnels(tuple(address))
        key = next((udid for udid in tunnels if same_udid(udid, self._udid)), None)
        if key is None:
            raise self._lost(
                f"{self.name}: no tunnel: tunneld at {address} has none for {self._udid} (it "
                f"serves {len(tunnels)} other phone(s)): plug the phone into the Mac tunneld runs "
                "on, trust that Mac, and give tunneld a few seconds to build the tunnel"
            )
        try:
            rsd = await self._pmd3.get_tunneld_device_by_udid(key, tuple(address))
        except IndexError:  # pymobiledevice3 11.45 indexes an empty list when no tunnel answers
            rsd = None
        if rsd is None:
            raise self._lost(
                f"{self.name}: tunneld at {address} lists a tunnel for this phone but it does not "
                "answer: replug the phone or restart tunneld (`sudo pymobiledevice3 remote "
                "tunneld`)"
            )
        return rsd

    async def _dvt_session(self) -> _Dvt:
        if self._dvt is None:
            dvt = self._pmd3.DvtProvider(await self._developer())
            await self._connect_developer_service(dvt)
            control = self._pmd3.ProcessControl(dvt)
            await control.connect()
            self._dvt = _Dvt(dvt, control)
        return self._dvt

    async def _process_control(self) -> Any:
        return (await self._dvt_session()).process_control

    async def _connect_developer_service(self, dtx_provider: Any) -> None:
        """Connect; a refused developer service is diagnosed: Developer Mode, or the disk image."""
        try:
            await dtx_provider.connect()
        except (InvalidServiceError, StartServiceError) as exc:
            lockdown = await self._lockdown_client()
            if self._require_facts().major >= 16 and not await lockdown.get_developer_mode_status():
                raise self._lost(
                    f"{self.name}: Developer Mode is off: {_fix_developer_mode(self._where)}"
                ) from exc
            if not await self._disk_image_mounted(lockdown):
                raise self._lost(
                    f"{self.name}: the developer disk image is not mounted: "
                    f"{fix_disk_image(self._where)}"
                ) from exc
            raise

    async def _disconnect(self, keep_held: bool = False) -> None:
        """Close connections, best effort; `keep_held` spares the condition and the forward."""
        dvt, self._dvt = self._dvt, None
        rsd, self._rsd = self._rsd, None
        lockdown, self._lockdown = self._lockdown, None
        closers = [dvt.provider.close() if dvt else None]
        if not keep_held:
            closers += [self._release(self._forward), self._release(self._condition)]
            self._forward = self._condition = None
        closers += [rsd.close() if rsd else None, lockdown.close() if lockdown else None]
        for closer in closers:
            if closer is not None:
                with contextlib.suppress(Exception):
                    await closer

    async def _release(self, held: _Held | None) -> None:
        if held is None:
            return
        if held.task is not None:
            held.connection.stop()
            with contextlib.suppress(BaseException):
                await asyncio.wait_for(held.task, CLOSE_TIMEOUT_S)
        else:
            with contextlib.suppress(Exception):
                await held.connection.close()
        with contextlib.suppress(Exception):
            await held.provider.close()

    # -- The verbs' coroutines ----------------------------------------------------------------

    async def _battery(self) -> Any:
        """The IORegistry battery entry, or None: a phone that will not say is not a failure."""
        try:
            async with self._pmd3.DiagnosticsService(await self._lockdown_client()) as diag:
                return await diag.get_battery()
        except Exception as exc:  # info() must not fail over the battery
            log.debug("%s: no battery reading: %r", self.name, exc)
            return None

    async def _lookup(self, bundle_id: str) -> dict[str, Any] | None:
        async with self._pmd3.InstallationProxyService(await self._lockdown_client()) as installer:
            apps = await installer.get_apps(bundle_identifiers=[bundle_id])
        return (apps or {}).get(bundle_id)

    async def _install(self, data: bytes, progress: Progress) -> None:
        """Upload over AFC and install; progress is ours, not pymobiledevice3's bar."""
        lockdown = await self._lockdown_client()
        remote = f"{STAGING}/{uuid.uuid4()}.ipa"
        async with self._pmd3.AfcService(lockdown) as afc:
            await afc.makedirs(STAGING)
            try:
                await afc.set_file_contents(
                    remote, data, progress=UploadProgress(len(data), progress)
                )
                async with self._pmd3.InstallationProxyService(lockdown) as installer:
                    await installer.service.send_plist(
                        {"Command": "Install", "ClientOptions": {}, "PackagePath": remote}
                    )
                    await _watch_installer(installer, "install", progress)
            finally:
                await afc.rm_single(remote, force=True)

    async def _uninstall(self, bundle_id: str) -> None:
        if await self._lookup(bundle_id) is None:
            return
        async with self._pmd3.InstallationProxyService(await self._lockdown_client()) as installer:
            await installer.service.send_plist(
                {"Command": "Uninstall", "ApplicationIdentifier": bundle_id, "ClientOptions": {}}
            )
            await _watch_installer(installer, "uninstall", lambda *_: None)

    async def _launch(self, bundle_id: str, env: dict[str, str], args: list[str]) -> int:
        control = await self._process_control()
        try:
            pid = await control.launch(
                bundle_id, arguments=list(args), kill_existing=True, environment=dict(env)
            )
        except AssertionError:  # pymobiledevice3 asserts on the phone's reply
            pid = 0
        if not pid:
            raise UsageError(
                f"{self.name}: launch {bundle_id}: the phone started no process: check the app "
                "is installed and its developer is trusted on the phone (Settings > General > "
                "VPN & Device Management)"
            )
        return int(pid)

    async def _press(self, usage: int, hold: float) -> None:
        async with self._pmd3.IndigoHIDService(await self._developer()) as hid:
            await hid.send_button(CONSUMER_PAGE, usage, HID_DOWN)
            await asyncio.sleep(hold)
            await hid.send_button(CONSUMER_PAGE, usage, HID_UP)
            await asyncio.sleep(HID_SETTLE_S)

    async def _sleep(self) -> None:
        async with self._pmd3.DiagnosticsService(await self._lockdown_client()) as diag:
            await diag.sleep()

    async def _induce_offline(self) -> None:
        """Find the 100 %-loss profile by listing, enable it, and hold its connection open."""
        provider = await self._own_developer_provider()
        dvt = None
        try:
            dvt = self._pmd3.DvtProvider(provider)
            await self._connect_developer_service(dvt)
            inducer = self._pmd3.ConditionInducer(dvt)
            await inducer.connect()
            groups = await inducer.list()
            profile = offline_profile(groups)
            if profile is None:
                names = [p.get("identifier") for g in groups for p in g.get("profiles") or ()]
                raise Unsupported(
                    self.name,
                    "set_network('offline')",
                    "the phone lists no 100% packet loss condition profile (it lists "
                    f"{', '.join(map(str, names)) or 'none'}); please report it with the iOS "
                    "version",
                )
            if any(group.get("isActive") for group in groups):
                await inducer.clear()  # one condition at a time: a stale one goes first
            await inducer.set(profile)
        except BaseException:
            if dvt is not None:
                with contextlib.suppress(Exception):
                    await dvt.close()
            with contextlib.suppress(Exception):
                await provider.close()
            raise
        # The phone ends the condition when this connection closes: keep it until cleared.
        self._condition = _Held(provider, dvt, service=inducer, detail=profile)

    async def _clear_condition(self) -> None:
        """Clear the held condition; with none held, clear whatever the phone says is active."""
        held, self._condition = self._condition, None
        if held is not None:
            try:
                # disableActiveCondition expects no reply; closing the connection right after
                # ends the condition on the phone in any case.
                await held.service.clear()
            finally:
                await self._release(held)
            return
        # Nothing held (a crashed run's condition, ended when its connection dropped): make sure.
        provider = await self._own_developer_provider()
        try:
            async with self._pmd3.DvtProvider(provider) as dvt:
                inducer = self._pmd3.ConditionInducer(dvt)
                await inducer.connect()
                if any(group.get("isActive") for group in await inducer.list()):
                    await inducer.clear()
        finally:
            with contextlib.suppress(Exception):
                await provider.close()

    async def _debug_endpoint(self) -> str:
        """`HOST:PORT` of debugserver: the tunnel's address on iOS 17+, else a local forward."""
        if self._forward is not None:
            if not self._forward.task.done():
                return self._forward.detail
            held, self._forward = self._forward, None  # the forward died: start a new one
            await self._release(held)
        if self._require_facts().major >= 17:
            rsd = await self._developer()
            if not rsd.is_in_process_tunnel:
                return str(Address(rsd.service.address[0], rsd.get_service_port(DEBUGSERVER_17)))
            service = DEBUGSERVER_17  # bridged through a remote tunneld: forward it here
        else:
            service = DEBUGSERVER_BELOW_17
        provider = await self._own_developer_provider()
        listening = asyncio.Event()
        forwarder = self._pmd3.LockdownTcpForwarder(provider, 0, service, listening)
        task = asyncio.ensure_future(forwarder.start("127.0.0.1"))
        waiter = asyncio.ensure_future(listening.wait())
        await asyncio.wait({task, waiter}, return_when=asyncio.FIRST_COMPLETED)
        waiter.cancel()
        if task.done():
            with contextlib.suppress(Exception):
                await provider.close()
            task.result()  # raises what stopped the forward
            raise InfraError(f"{self.name}: the debugserver port forward stopped at once")
        endpoint = str(Address("127.0.0.1", forwarder.listening_port))
        self._forward = _Held(provider, forwarder, task=task, detail=endpoint)
        return endpoint

    # -- Helpers ------------------------------------------------------------------------------

    def _require_facts(self) -> _Facts:
        if self._facts is None:
            raise InfraError(f"{self.name}: the device is not open; open it first")
        return self._facts

    def _hid_available(self) -> bool:
        """HID buttons and the lock state: iOS 17+, through the tunnel (open checked it)."""
        return self._require_facts().major >= 17 and self._record.tunnel is not None

    def _can_unlock(self) -> bool:
        return self._record.unlock and (bool(self._record.wda) or self._hid_available())

    def _capabilities(self) -> frozenset[str]:
        caps = {"install", "launch", "kill", "log", "network", "debugger", "screenshot"}
        if self._hid_available() or self._record.wda:
            caps.add("background")
        if self._record.wda:
            caps.add("force_quit")
        if self._can_unlock():
            caps |= {"lock", "unlock"}
        if self._hid_available():
            caps.add("locked")
        return frozenset(caps)

    def _ui_fix(self, hid: bool) -> str:
        """What to install: WebDriverAgent, or (where HID buttons do) an iOS 17+ tunnel."""
        need = "iOS 17 or later with `tunnel: tunneld` (HID buttons), or " if hid else ""
        return (
            f"needs {need}WebDriverAgent on the phone with its URL as `wda:` in devices.yaml "
            f"({fix_wda(self._where)})"
        )

    def _warn(self, line: str) -> None:
        if line not in self.warnings:
            self.warnings.append(line)
            log.warning("%s", line)


class IosLogStream(QueueLogStream):
    """The device log from now on, read on a thread of its own; `close` stops the reader."""

    def __init__(self, device: str, maxsize: int = 100_000):
        super().__init__(maxsize)
        self._loop = DeviceLoop(f"bgharness-log-{device}")
        self.reader: LogReader | None = None

    def start(self, reader: LogReader) -> None:
        self.reader = reader
        self._loop.start()
        self._loop.submit(reader.run()).add_done_callback(self._reader_ended)

    def _reader_ended(self, future: Any) -> None:
        """A reader that failed outside its own handling (a bug) says so in the log it feeds."""
        if future.cancelled() or future.exception() is None:
            return
        exc = future.exception()
        log.error("%s: the log reader failed: %r", self._loop.name, exc)
        self.put(gap_entry(time.time(), f"the log reader failed ({exc!r}); nothing after was read"))

    def close(self) -> None:
        super().close()
        self._loop.stop()


async def _watch_installer(installer: Any, stage: str, progress: Progress) -> None:
    """installation_proxy's status replies until Complete, as its `_watch_completion` reads them
    (without its progress bar); an Error reply raises AppInstallError with the installer's words."""
    while True:
        reply = await installer.service.recv_plist()
        if not reply:
            raise AppInstallError(f"the installer closed the connection during {stage}")
        if reply.get("Error"):
            raise AppInstallError(f"{reply['Error']}: {reply.get('ErrorDescription')}")
        percent = reply.get("PercentComplete")
        if isinstance(percent, (int, float)):
            progress(stage, percent / 100)
        if reply.get("Status") == "Complete":
            progress(stage, 1.0)
            return


def _swipe_away(client: Any, session: str, *, home_button: bool) -> None:
    """Open the app switcher and swipe the middle card up, as a user does; then go Home."""
    size = client.get_window_size(session)
    width, height = int(size["width"]), int(size["height"])
    middle = width // 2
    if home_button:
        client.press_button("home", session)
        _pause(0.15)
        client.press_button("home", session)
    else:
        # Up from the bottom edge, slowly, stopping mid-screen: the switcher, not Home.
        client.swipe(middle, height - 2, middle, height // 2, duration=1.0, session_id=session)
    _pause(0.8)  # the switcher's animation
    client.swipe(middle, height // 2, middle, height // 20, duration=0.1, session_id=session)
    _pause(0.5)
    client.press_button("home", session)


def _pause(seconds: float) -> None:
    """Wait for the phone's UI to settle (tests replace it)."""
    time.sleep(seconds)


def _battery_state(entry: Any) -> tuple[float | None, bool | None]:
    if not isinstance(entry, dict):
        return None, None
    current, maximum = entry.get("CurrentCapacity"), entry.get("MaxCapacity")
    percent = None
    if isinstance(current, (int, float)):
        percent = float(current)
        if isinstance(maximum, (int, float)) and maximum > 100:
            percent = round(100 * current / maximum, 1)
    charging = entry.get("IsCharging")
    return percent, charging if isinstance(charging, bool) else None
