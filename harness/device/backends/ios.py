"""The `ios` backend: real iPhones through pymobiledevice3, behind the synchronous Device contract.

This module holds the Device verbs; the connections they use (lockdown, the tunnel, DVT, and
the ones held open on purpose) live in `ios_connect`.

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
    AfcFileNotFoundError,
    AppInstallError,
    WdaError,
)

from harness.core.clock import WallClock
from harness.core.debugger import DebugSession
from harness.core.errors import (
    AppError,
    HarnessError,
    InfraError,
    Unsupported,
    UsageError,
)
from harness.data.appbundle import read_app
from harness.data.inventory import Address, DeviceRecord
from harness.device.backends.ios_apps import (
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
from harness.device.backends.ios_connect import (
    CLOSE_TIMEOUT_S,
    Connections,
    Held,
    Pmd3,
)
from harness.device.backends.ios_errors import REPLUG_PATIENCE_S, Where, fix_wda, retrying
from harness.device.backends.ios_errors import translate as _translate
from harness.device.backends.ios_log import LogReader, gap_entry
from harness.device.backends.ios_loop import DeviceLoop
from harness.device.contract import NETWORK_PROFILES, DeviceInfo
from harness.device.logstream import QueueLogStream

log = logging.getLogger("bgharness.ios")
T = TypeVar("T")

# Seconds a verb may take before it counts as a phone that stopped answering.
OPEN_TIMEOUT_S = 60.0
CALL_TIMEOUT_S = 30.0
LAUNCH_TIMEOUT_S = 60.0
INSTALL_TIMEOUT_S = 900.0

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
class _Wda:
    client: Any
    session: str | None = None


class IosDevice:
    """A Device (harness.device.contract) driving one real iPhone; see the module docstring."""

    def __init__(self, record: DeviceRecord, state_dir: Path, pmd3: Pmd3, loop: DeviceLoop):
        if not record.udid:
            raise UsageError(f"{record.name}: an ios device needs a udid in devices.yaml")
        self.name = record.name
        self.warnings: list[str] = []  # for the report: iOS version mismatch, preflight findings
        self.progress: Progress | None = None  # install progress; shown on stderr when None
        self._record = record
        self._udid = record.udid
        self._where = Where(record.name, record.udid, record.usbmux, record.tunnel, record.wda)
        self._pmd3 = pmd3
        self._loop = loop
        self._lock = threading.RLock()
        self._installs = InstallRecords(state_dir, record.udid)
        self._clock = DeviceClock()
        self._closed = False
        self._conn = Connections(record, self._where, pmd3, self._warn)
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
        device._conn.opening = True
        try:
            device._call("open", device._open, timeout=OPEN_TIMEOUT_S)
        except BaseException:
            device.close()
            raise
        device._conn.opening = False
        return device

    # -- Device contract: identity, apps ------------------------------------------------------

    @property
    def clock(self) -> DeviceClock:
        return self._clock

    def info(self) -> IosDeviceInfo:
        facts = self._conn.require_facts()
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
        errors, warnings = preflight(info, signing, self._udid, self._conn.require_facts().version)
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
                patience=REPLUG_PATIENCE_S,
            )
        except HarnessError:
            # What a failed upload left in the staging folder goes now, if the phone answers.
            with contextlib.suppress(HarnessError):
                self._call("install", self._clear_staging, retry=False)
            raise
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
            control = await self._conn.process_control()
            return await control.process_identifier_for_bundle_identifier(bundle_id) or None

        return self._call("pid", op)

    def kill(self, pid: int) -> None:
        async def op() -> None:
            control = await self._conn.process_control()
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
            control = await self._conn.process_control()
            return await control.launch(bundle_id, kill_existing=False)

        self._call("force_quit", bring_to_front, timeout=LAUNCH_TIMEOUT_S)
        model = self._conn.require_facts().model
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
                "tunnel); this phone runs iOS " + self._conn.require_facts().version,
            )

        async def op() -> Any:
            async with self._pmd3.DeviceInfoService(await self._conn.developer()) as service:
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
        if self._conn.condition is not None:
            return  # the one profile there is, already held
        self._call("set_network", self._induce_offline)

    def clear_network(self) -> None:
        self._call("clear_network", self._clear_condition)

    # -- Device contract: restart, power, settings, memory (issue 11) ---------------------------

    def reboot(self) -> None:
        """Restart through the diagnostics service; the phone then needs its passcode once
        (before first unlock). Reconnecting after the restart is not automated yet."""

        async def op() -> None:
            async with self._pmd3.DiagnosticsService(await self._conn.lockdown()) as diag:
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
        reader = LogReader(self._conn.new_lockdown, self._pmd3.OsTraceService, stream)
        stream.start(reader)
        # A live log starts when its stream does: return once it streams, or a test's first
        # action (a trigger right after launch) would happen before the log could show it.
        if not reader.streaming.wait(CALL_TIMEOUT_S):
            log.info("%s: the log stream is not up after %g s", self.name, CALL_TIMEOUT_S)
        self._streams = [s for s in self._streams if not s.closed] + [stream]
        return stream

    def debugger(self, pid: int) -> DebugSession:
        """Attach lldb (harness.device.lldb) to `pid` through the phone's debugserver."""
        bundle_id = self._launched.get(pid)
        signing = self._signing.get(bundle_id or "")
        if signing is not None and signing.get_task_allow is False:
            raise AppError(
                f"{self.name}: cannot attach the debugger to {bundle_id}: the build has no "
                "get-task-allow entitlement: install a development-signed build (Debug "
                "configuration, Apple Development certificate)"
            )
        endpoint = self._call("debugger", self._debug_endpoint)
        from harness.device.lldb import (
            LldbBridge,  # the lldb bridge, loaded only when a test triggers
        )

        return LldbBridge(endpoint, platform="remote-ios", device=self.name).attach(pid)

    def debug_endpoint(self) -> str:
        """Where lldb's `process connect connect://…` reaches the phone's debugserver."""
        return self._call("debugger", self._debug_endpoint)

    def screenshot(self) -> bytes:
        async def op() -> bytes:
            dvt = await self._conn.dvt_session()
            if dvt.screenshot is None:
                screenshot = self._pmd3.Screenshot(dvt.provider)
                await screenshot.connect()  # kept only once connected: a refusal is not cached
                dvt.screenshot = screenshot
            return await dvt.screenshot.get_screenshot()

        return self._call("screenshot", op)

    def close(self) -> None:
        """Clear the network condition, stop the log readers, close every connection."""
        if self._closed:
            return
        self._closed = True
        try:
            if self._conn.condition is not None:
                try:
                    self._call("clear_network", self._clear_condition, retry=False)
                except HarnessError as exc:
                    log.warning("%s: could not clear the network condition: %s", self.name, exc)
        finally:
            for stream in self._streams:
                stream.close()
            with contextlib.suppress(Exception):
                self._loop.run(self._conn.disconnect(), CLOSE_TIMEOUT_S)
            self._loop.stop()

    # -- Calling into the loop ----------------------------------------------------------------

    def _call(
        self,
        verb: str,
        make: Callable[[], Coroutine[Any, Any, T]],
        *,
        timeout: float = CALL_TIMEOUT_S,
        retry: bool = True,
        patience: float | None = None,
    ) -> T:
        """Run `make()` on the loop, retried on transient failures, failures translated;
        `patience` keeps retrying that many seconds (an install outlasting a replug)."""

        def once() -> T:
            return self._loop.run(make(), timeout)

        with self._lock:
            try:
                if not retry:
                    return once()
                return retrying(before_retry=self._drop_connections, patience_s=patience)(once)
            except Exception as exc:
                error = _translate(exc, self._where, verb, opening=self._conn.opening)
                if error is None or error is exc:
                    raise
                raise error from exc

    def _drop_connections(self) -> None:
        with contextlib.suppress(Exception):
            self._loop.run(self._conn.disconnect(keep_held=True), CLOSE_TIMEOUT_S)

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

    # -- The verbs' coroutines ----------------------------------------------------------------

    async def _open(self) -> None:
        """Open the connections (all or nothing) and set the clock to the phone's."""
        await self._conn.open()
        if self._conn.clock_offset is not None:
            self._clock = DeviceClock(self._conn.clock_offset)

    async def _battery(self) -> Any:
        """The IORegistry battery entry, or None: a phone that will not say is not a failure."""
        try:
            async with self._pmd3.DiagnosticsService(await self._conn.lockdown()) as diag:
                return await diag.get_battery()
        except Exception as exc:  # info() must not fail over the battery
            log.debug("%s: no battery reading: %r", self.name, exc)
            return None

    async def _lookup(self, bundle_id: str) -> dict[str, Any] | None:
        async with self._pmd3.InstallationProxyService(await self._conn.lockdown()) as installer:
            apps = await installer.get_apps(bundle_identifiers=[bundle_id])
        return (apps or {}).get(bundle_id)

    async def _install(self, data: bytes, progress: Progress) -> None:
        """Upload over AFC and install; progress is ours, not pymobiledevice3's bar.

        The staging folder is bgharness's own: what an upload cut short by a cable pull left
        there is removed before the next one (and the upload itself after the install).
        """
        lockdown = await self._conn.lockdown()
        remote = f"{STAGING}/{uuid.uuid4()}.ipa"
        async with self._pmd3.AfcService(lockdown) as afc:
            await afc.makedirs(STAGING)
            await _clear_staging(afc)
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

    async def _clear_staging(self) -> None:
        async with self._pmd3.AfcService(await self._conn.lockdown()) as afc:
            await _clear_staging(afc)

    async def _uninstall(self, bundle_id: str) -> None:
        if await self._lookup(bundle_id) is None:
            return
        async with self._pmd3.InstallationProxyService(await self._conn.lockdown()) as installer:
            await installer.service.send_plist(
                {"Command": "Uninstall", "ApplicationIdentifier": bundle_id, "ClientOptions": {}}
            )
            await _watch_installer(installer, "uninstall", lambda *_: None)

    async def _launch(self, bundle_id: str, env: dict[str, str], args: list[str]) -> int:
        control = await self._conn.process_control()
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
        async with self._pmd3.IndigoHIDService(await self._conn.developer()) as hid:
            await hid.send_button(CONSUMER_PAGE, usage, HID_DOWN)
            await asyncio.sleep(hold)
            await hid.send_button(CONSUMER_PAGE, usage, HID_UP)
            await asyncio.sleep(HID_SETTLE_S)

    async def _sleep(self) -> None:
        async with self._pmd3.DiagnosticsService(await self._conn.lockdown()) as diag:
            await diag.sleep()

    async def _induce_offline(self) -> None:
        """Find the 100 %-loss profile by listing, enable it, and hold its connection open."""
        provider = await self._conn.own_developer_provider()
        dvt = None
        try:
            dvt = self._pmd3.DvtProvider(provider)
            await self._conn.connect_developer_service(dvt)
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
        self._conn.condition = Held(provider, dvt, service=inducer, detail=profile)

    async def _clear_condition(self) -> None:
        """Clear the held condition; with none held, clear whatever the phone says is active."""
        held, self._conn.condition = self._conn.condition, None
        if held is not None:
            try:
                # disableActiveCondition expects no reply; closing the connection right after
                # ends the condition on the phone in any case.
                await held.service.clear()
            finally:
                await self._conn.release(held)
            return
        # Nothing held (a crashed run's condition, ended when its connection dropped): make sure.
        provider = await self._conn.own_developer_provider()
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
        if self._conn.forward is not None:
            if not self._conn.forward.task.done():
                return self._conn.forward.detail
            held, self._conn.forward = self._conn.forward, None  # the forward died: start a new one
            await self._conn.release(held)
        if self._conn.require_facts().major >= 17:
            rsd = await self._conn.developer()
            if not rsd.is_in_process_tunnel:
                return str(Address(rsd.service.address[0], rsd.get_service_port(DEBUGSERVER_17)))
            service = DEBUGSERVER_17  # bridged through a remote tunneld: forward it here
        else:
            service = DEBUGSERVER_BELOW_17
        provider = await self._conn.own_developer_provider()
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
        self._conn.forward = Held(provider, forwarder, task=task, detail=endpoint)
        return endpoint

    # -- Helpers ------------------------------------------------------------------------------

    def _hid_available(self) -> bool:
        """HID buttons and the lock state: iOS 17+, through the tunnel (open checked it)."""
        return self._conn.require_facts().major >= 17 and self._record.tunnel is not None

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
        """Keep `line` for whoever opened the device to say once (the plugin's summary, the
        CLI's `say`); logged at info only, or the CLI printed it twice."""
        if line not in self.warnings:
            self.warnings.append(line)
            log.info("%s", line)


def open_log(
    record: DeviceRecord,
    notify: Callable[[str, str], None] | None = None,
    pmd3: Pmd3 | None = None,
) -> IosLogStream:
    """Only the phone's live log: a paired phone is enough (reading the log needs no Developer
    Mode, disk image or tunnel). Checks the phone answers now, so a missing or untrusted phone
    says so at once (DeviceUnavailable with the fix); `notify` hears drops, gaps and returns.
    When the reader gives up (the phone gone for good) `notify` hears "stopped" and the stream
    ends."""
    if not record.udid:
        raise UsageError(f"{record.name}: an ios device needs a udid in devices.yaml")
    pmd3 = pmd3 or Pmd3.real()
    where = Where(record.name, record.udid, record.usbmux, record.tunnel, record.wda)
    usbmux = f"{record.usbmux.host}:{record.usbmux.port}" if record.usbmux else None

    async def connect() -> Any:
        return await pmd3.create_using_usbmux(
            serial=record.udid, autopair=True, pair_timeout=0, usbmux_address=usbmux
        )

    async def check() -> None:
        await (await connect()).close()

    probe = DeviceLoop(f"bgharness-check-{record.name}").start()
    try:
        probe.run(check(), OPEN_TIMEOUT_S)
    except Exception as exc:
        error = _translate(exc, where, "log", opening=True)
        if error is None or error is exc:
            raise
        raise error from exc
    finally:
        probe.stop()
    stream = IosLogStream(record.name)

    def told(kind: str, line: str) -> None:
        if notify is not None:
            notify(kind, line)
        if kind == "stopped":
            stream.close_soon()

    stream.start(LogReader(connect, pmd3.OsTraceService, stream, notify=told))
    return stream


class IosLogStream(QueueLogStream):
    """The device log from now on, read on a thread of its own; `close` stops the reader."""

    def __init__(self, device: str, maxsize: int = 100_000):
        super().__init__(maxsize)
        self._loop = DeviceLoop(f"bgharness-log-{device}")
        self.reader: LogReader | None = None
        self._running: Any = None  # the reader's future, held for the reader's whole life

    def start(self, reader: LogReader) -> None:
        self.reader = reader
        self._loop.start()
        self._running = self._loop.submit(reader.run())
        self._running.add_done_callback(self._reader_ended)

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

    def close_soon(self) -> None:
        """End the stream from its own reader (which cannot stop the loop it runs on)."""
        QueueLogStream.close(self)


async def _clear_staging(afc: Any) -> None:
    """Remove the uploads a failed install left in bgharness's staging folder."""
    try:
        names = await afc.listdir(STAGING)
    except AfcFileNotFoundError:
        return
    for name in names:
        if name.endswith(".ipa"):
            await afc.rm_single(f"{STAGING}/{name}", force=True)


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
