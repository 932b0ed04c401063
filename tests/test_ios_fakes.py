"""A fake iPhone for the ios backend, built only from autospecs of pymobiledevice3's own classes.

Every object the backend touches is `create_autospec` of the real pymobiledevice3 class or
function (the installed 11.x), so a renamed method or a changed signature fails the tests that
use it. `FakePhone` adds just enough behaviour behind those specs to look like a phone: apps
the installer lists, processes, a condition that ends when its connection closes, a log.
The tests at the bottom check that the fakes really are strict.
"""

from __future__ import annotations

import asyncio
import io
import plistlib
import threading
import time
import uuid
import zipfile
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any
from unittest.mock import create_autospec

import pytest
from pymobiledevice3.dtx.exceptions import DTXNsError
from pymobiledevice3.dtx.ns_types import NSError
from pymobiledevice3.lockdown import UsbmuxLockdownClient, create_using_usbmux
from pymobiledevice3.remote.core_device.device_info import DeviceInfoService
from pymobiledevice3.remote.core_device.hid_service import IndigoHIDService
from pymobiledevice3.remote.remote_service_discovery import RemoteServiceDiscoveryService
from pymobiledevice3.remote.remotexpc import RemoteXPCConnection
from pymobiledevice3.service_connection import ServiceConnection
from pymobiledevice3.services.afc import AfcService
from pymobiledevice3.services.diagnostics import DiagnosticsService
from pymobiledevice3.services.dvt.instruments.condition_inducer import ConditionInducer
from pymobiledevice3.services.dvt.instruments.dvt_provider import DvtProvider
from pymobiledevice3.services.dvt.instruments.process_control import ProcessControl
from pymobiledevice3.services.dvt.instruments.screenshot import Screenshot
from pymobiledevice3.services.installation_proxy import InstallationProxyService
from pymobiledevice3.services.mobile_image_mounter import MobileImageMounterService
from pymobiledevice3.services.os_trace import (
    OsTraceService,
    SyslogEntry,
    SyslogLabel,
    SyslogLogLevel,
)
from pymobiledevice3.services.wda import WdaClient
from pymobiledevice3.tcp_forwarder import LockdownTcpForwarder
from pymobiledevice3.tunneld.api import get_tunneld_device_by_udid, get_tunneld_tunnels
from pymobiledevice3.usbmux import MuxDevice, list_devices

from harness.data.inventory import Address, DeviceRecord
from harness.device.backends.ios import Pmd3
from tests.paths import PROBE_PLIST

UDID = "00008110-000A1B2C3D4E5F60"
PNG = b"\x89PNG\r\n\x1a\n" + b"fake"
FULL_LOSS = "SlowNetwork100PctLoss"
CONDITIONS = [
    {
        "identifier": "SlowNetworkCondition",
        "name": "Network Link",
        "isActive": False,
        "profiles": [
            {"identifier": "SlowNetwork3GGood", "name": "3G", "description": "Average 3G"},
            {
                "identifier": FULL_LOSS,
                "name": "100% packet loss",
                "description": "Downlink/Uplink Packet Loss Ratio: 100%",
            },
        ],
    },
    {
        "identifier": "ThermalCondition",
        "name": "Thermal State",
        "profiles": [{"identifier": "ThermalFair"}],
    },
]


def make_record(**fields: Any) -> DeviceRecord:
    base: dict[str, Any] = {
        "name": "iphone",
        "backend": "ios",
        "udid": UDID,
        "ios": "16.7",
        "model": "iPhone14,5",
    }
    base.update(fields)
    return DeviceRecord(**base)


def modern_record(**fields: Any) -> DeviceRecord:
    """An iOS 26 phone behind tunneld."""
    fields.setdefault("ios", "26.1")
    fields.setdefault("model", "iPhone17,3")
    fields.setdefault("tunnel", Address("127.0.0.1", 49151))
    return make_record(**fields)


def spec(cls: type, **attrs: Any) -> Any:
    """An autospec'd instance of `cls` whose `async with` yields itself."""
    obj = create_autospec(cls, instance=True)
    if hasattr(obj, "__aenter__"):
        obj.__aenter__.return_value = obj
    for name, value in attrs.items():
        setattr(obj, name, value)
    return obj


def factory(cls: type, setup: Callable[..., None] | None = None) -> Any:
    """An autospec of the class: calling it checks the real __init__, then builds `spec(cls)`."""
    made: list[Any] = []

    def build(*args: Any, **kwargs: Any) -> Any:
        obj = spec(cls)
        if setup is not None:
            setup(obj, *args, **kwargs)
        made.append(obj)
        return obj

    mock = create_autospec(cls, side_effect=build)
    mock.made = made
    return mock


def syslog_entry(message: str, at: float, pid: int = 412, process: str = "BGProbe") -> SyslogEntry:
    return SyslogEntry(
        pid=pid,
        timestamp=datetime.fromtimestamp(at),
        level=SyslogLogLevel.NOTICE,
        image_name="/System/Library/Frameworks/BackgroundTasks.framework/BackgroundTasks",
        image_offset=0x1234,
        filename=f"/private/var/containers/Bundle/Application/X/{process}.app/{process}",
        message=message,
        label=SyslogLabel(category="lifecycle", subsystem="dev.bgharness.probe"),
    )


class FakePhone:
    """One phone behind autospecs: the state the fakes read and write, and the `pmd3` to pass."""

    def __init__(
        self,
        version: str = "16.7",
        model: str = "iPhone14,5",
        *,
        developer_mode: bool = True,
        mounted: bool = True,
        paired: bool = True,
        skew: float = 0.0,
    ):
        self.version, self.model, self.paired = version, model, paired
        self.developer_mode, self.mounted, self.skew = developer_mode, mounted, skew
        self.apps: dict[str, dict[str, Any]] = {}
        self.running: dict[str, int] = {}
        self.foreground: str | None = None
        self.recent: str | None = None  # the app in front before Home was pressed
        self.environments: dict[int, dict[str, str]] = {}
        self.staged: dict[str, bytes] = {}
        self.commands: list[dict[str, Any]] = []
        self.install_error: dict[str, str] | None = None
        self.launch_error: Exception | None = None
        # What the next create_using_usbmux calls raise, in order (None: that one succeeds).
        self.connect_errors: list[BaseException | None] = []
        self.dvt_connect_error: BaseException | None = None
        self.conditions = [dict(group) for group in CONDITIONS]
        self.active: str | None = None  # the active condition profile
        self.condition_holder: Any = None  # the DvtProvider whose connection holds it
        self.buttons: list[tuple[int, int, int]] = []
        self.locked = False
        self.slept = 0
        self.restarted = 0
        self.swipes: list[tuple[int, int, int, int]] = []
        self.wda_presses: list[str] = []
        self.log_connections: list[list[Any]] = []  # each: SyslogEntry items, maybe an exception
        self.log_opened = 0
        self.forwarders: list[Any] = []
        self._pids = iter(range(700, 10_000))
        self.tunnel_rsd = self._rsd()
        self.pmd3 = self._pmd3()

    # -- usbmux, lockdown, tunneld --------------------------------------------------------------

    def _lockdown(self) -> Any:
        lockdown = spec(UsbmuxLockdownClient)
        lockdown.all_values = {
            "ProductVersion": self.version,
            "BuildVersion": "23B85" if self.version.startswith("26") else "20H19",
            "ProductType": self.model,
            "DeviceName": "Lab iPhone",
            "UniqueDeviceID": UDID,
        }
        lockdown.product_version = self.version
        lockdown.identifier = UDID
        lockdown.paired = self.paired

        async def get_value(domain: str | None = None, key: str | None = None) -> Any:
            if key == "TimeIntervalSince1970":
                return time.time() + self.skew
            return lockdown.all_values if key is None else lockdown.all_values.get(key)

        lockdown.get_value.side_effect = get_value
        lockdown.get_developer_mode_status.side_effect = lambda: self.developer_mode
        return lockdown

    def _rsd(self) -> Any:
        rsd = spec(RemoteServiceDiscoveryService)
        rsd.service = spec(RemoteXPCConnection, address=("fd7a:115c:a1e0::1", 61234))
        rsd.is_in_process_tunnel = False
        rsd.udid = UDID
        rsd.product_version = self.version
        rsd.get_service_port.return_value = 50321
        return rsd

    def _pmd3(self) -> Pmd3:
        connect = create_autospec(create_using_usbmux)

        async def create(**kwargs: Any) -> Any:
            failure = self.connect_errors.pop(0) if self.connect_errors else None
            if failure is not None:
                raise failure
            return self._lockdown()

        connect.side_effect = create
        devices = create_autospec(list_devices)
        devices.return_value = [MuxDevice(devid=1, serial=UDID, connection_type="USB")]
        tunnels = create_autospec(get_tunneld_tunnels)
        tunnels.return_value = {
            UDID: [
                {"tunnel-address": "fd7a:115c:a1e0::1", "tunnel-port": 61234, "interface": "utun4"}
            ]
        }
        by_udid = create_autospec(get_tunneld_device_by_udid)
        by_udid.return_value = self.tunnel_rsd
        return Pmd3(
            list_devices=devices,
            create_using_usbmux=connect,
            get_tunneld_tunnels=tunnels,
            get_tunneld_device_by_udid=by_udid,
            InstallationProxyService=factory(InstallationProxyService, self._installer),
            AfcService=factory(AfcService, self._afc),
            OsTraceService=factory(OsTraceService, self._os_trace),
            DiagnosticsService=factory(DiagnosticsService, self._diagnostics),
            MobileImageMounterService=factory(MobileImageMounterService, self._mounter),
            DvtProvider=factory(DvtProvider, self._dvt),
            ProcessControl=factory(ProcessControl, self._process_control),
            ConditionInducer=factory(ConditionInducer, self._inducer),
            Screenshot=factory(Screenshot, self._screenshot),
            IndigoHIDService=factory(IndigoHIDService, self._hid),
            DeviceInfoService=factory(DeviceInfoService, self._device_info),
            LockdownTcpForwarder=factory(LockdownTcpForwarder, self._forwarder),
            WdaClient=factory(WdaClient, self._wda),
        )

    # -- lockdown services --------------------------------------------------------------------

    def _installer(self, installer: Any, lockdown: Any, *_: Any) -> None:
        async def get_apps(
            application_type: str = "Any",
            calculate_sizes: bool = False,
            bundle_identifiers: list[str] | None = None,
            show_placeholders: bool = False,
        ) -> dict:
            wanted = bundle_identifiers or list(self.apps)
            return {b: dict(self.apps[b]) for b in wanted if b in self.apps}

        installer.get_apps.side_effect = get_apps
        connection = spec(ServiceConnection)
        replies: list[dict[str, Any]] = []

        async def send_plist(message: dict[str, Any], *_: Any, **__: Any) -> None:
            self.commands.append(message)
            if self.install_error is not None:
                replies.append(self.install_error)
            elif message["Command"] == "Install":
                replies.extend(
                    [
                        {"Status": "CreatingStagingDirectory", "PercentComplete": 5},
                        {"Status": "InstallingApplication", "PercentComplete": 60},
                        {"Status": "Complete"},
                    ]
                )
                self._install_package(self.staged[message["PackagePath"]])
            elif message["Command"] == "Uninstall":
                replies.append({"Status": "Complete"})
                self.apps.pop(message["ApplicationIdentifier"], None)

        async def recv_plist(*_: Any, **__: Any) -> dict[str, Any]:
            return replies.pop(0)

        connection.send_plist.side_effect = send_plist
        connection.recv_plist.side_effect = recv_plist
        installer.service = connection

    def _install_package(self, data: bytes) -> None:
        with zipfile.ZipFile(io.BytesIO(data)) as zf:
            name = next(n for n in zf.namelist() if n.count("/") == 2 and n.endswith("/Info.plist"))
            plist = plistlib.loads(zf.read(name))
        bundle = plist["CFBundleIdentifier"]
        self.apps[bundle] = {
            "CFBundleIdentifier": bundle,
            "CFBundleVersion": plist["CFBundleVersion"],
            "CFBundleShortVersionString": plist.get("CFBundleShortVersionString"),
            "Path": f"/private/var/containers/Bundle/Application/{uuid.uuid4()}/"
            + name.split("/")[1],
        }

    def _afc(self, afc: Any, lockdown: Any, *_: Any) -> None:
        async def set_file_contents(filename: str, data: bytes, progress: Any = None) -> None:
            self.staged[filename] = data
            if progress is not None:
                for offset in range(0, len(data), 4096):
                    progress.update(len(data[offset : offset + 4096]))

        async def rm_single(filename: str, force: bool = False) -> bool:
            return self.staged.pop(filename, None) is not None

        async def makedirs(filename: str) -> None:
            return None

        async def listdir(filename: str) -> list[str]:
            return [name.rsplit("/", 1)[1] for name in self.staged if name.startswith(filename)]

        # These four are wrapped by pymobiledevice3's path_to_str, which hides that they are
        # coroutines from autospec: the side effects make them awaitable, the spec still checks
        # their arguments.
        afc.makedirs.side_effect = makedirs
        afc.listdir.side_effect = listdir
        afc.set_file_contents.side_effect = set_file_contents
        afc.rm_single.side_effect = rm_single

    def _diagnostics(self, diag: Any, lockdown: Any, *_: Any) -> None:
        diag.get_battery.return_value = {"CurrentCapacity": 87, "IsCharging": True}

        async def sleep() -> None:
            self.slept += 1
            self.locked = True

        diag.sleep.side_effect = sleep

        async def restart() -> None:
            self.restarted += 1
            self.locked = True

        diag.restart.side_effect = restart

    def _mounter(self, mounter: Any, lockdown: Any) -> None:
        mounter.is_image_mounted.side_effect = lambda image_type: self.mounted

    def _os_trace(self, service: Any, lockdown: Any, *_: Any) -> None:
        index = self.log_opened
        self.log_opened += 1

        async def syslog(pid: int = -1, message_filter: int = 0xFFFF, stream_flags: int = 0):
            script = self.log_connections[index] if index < len(self.log_connections) else []
            for item in script:
                if isinstance(item, BaseException):
                    raise item
                yield item
            await asyncio.Event().wait()  # a live stream: nothing more, until cancelled

        service.syslog.side_effect = syslog

    # -- developer services -------------------------------------------------------------------

    def _dvt(self, dvt: Any, provider: Any, *_: Any, **__: Any) -> None:
        async def connect() -> None:
            if self.dvt_connect_error is not None:
                raise self.dvt_connect_error

        async def close() -> None:
            if self.condition_holder is dvt:  # the phone ends the condition with its connection
                self.active, self.condition_holder = None, None

        async def leave(*exc: Any) -> None:
            await close()

        dvt.connect.side_effect = connect
        dvt.close.side_effect = close
        dvt.__aexit__.side_effect = leave
        dvt.lockdown = provider

    def _process_control(self, control: Any, dvt: Any, *_: Any) -> None:
        async def launch(
            bundle_id: str,
            arguments: list[str] | None = None,
            kill_existing: bool = True,
            start_suspended: bool = False,
            environment: dict | None = None,
            extra_options: dict | None = None,
        ) -> int:
            if self.launch_error is not None:
                raise self.launch_error
            if bundle_id not in self.apps:
                raise DTXNsError(
                    NSError(
                        1,
                        "FBSOpenApplicationServiceErrorDomain",
                        {"NSLocalizedDescription": f"{bundle_id} is not installed"},
                    )
                )
            if kill_existing or bundle_id not in self.running:
                self.running[bundle_id] = next(self._pids)
            pid = self.running[bundle_id]
            self.environments[pid] = dict(environment or {})
            self.foreground = bundle_id
            return pid

        async def pid_for(app_bundle_identifier: str) -> int:
            return self.running.get(app_bundle_identifier, 0)

        async def kill(pid: int) -> None:
            for bundle, running in list(self.running.items()):
                if running == pid:
                    del self.running[bundle]

        control.launch.side_effect = launch
        control.process_identifier_for_bundle_identifier.side_effect = pid_for
        control.kill.side_effect = kill

    def _inducer(self, inducer: Any, dvt: Any) -> None:
        async def listed() -> list[dict[str, Any]]:
            return [
                {
                    **group,
                    "isActive": any(p["identifier"] == self.active for p in group["profiles"]),
                }
                for group in self.conditions
            ]

        async def set_(profile_identifier: str) -> None:
            if self.active is not None:
                raise RuntimeError("A condition is already active.")
            self.active, self.condition_holder = profile_identifier, dvt

        async def clear() -> None:
            self.active, self.condition_holder = None, None

        inducer.list.side_effect = listed
        inducer.set.side_effect = set_
        inducer.clear.side_effect = clear

    def _screenshot(self, shot: Any, dvt: Any) -> None:
        shot.get_screenshot.return_value = PNG

    def _hid(self, hid: Any, rsd: Any) -> None:
        async def send_button(usage_page: int, usage_code: int, state: int) -> None:
            self.buttons.append((usage_page, usage_code, state))
            if usage_code == 0x30 and state == 2:
                self.locked = True
            if usage_code == 0x40 and state == 2:
                self.foreground = None
                self.locked = False  # Home on a phone without a passcode: the Home Screen

        hid.send_button.side_effect = send_button

    def _device_info(self, info: Any, rsd: Any) -> None:
        info.get_lockstate.side_effect = lambda: {
            "passcodeRequired": self.locked,
            "unlockedSinceBoot": True,
        }

    def _forwarder(
        self,
        forwarder: Any,
        provider: Any,
        src_port: int,
        service_name: str,
        listening_event: asyncio.Event | None = None,
    ) -> None:
        stopped: list[asyncio.Event] = []

        async def start(address: str = "127.0.0.1") -> None:
            stopped.append(asyncio.Event())
            if listening_event is not None:
                listening_event.set()
            await stopped[0].wait()

        forwarder.start.side_effect = start
        forwarder.stop.side_effect = lambda: stopped and stopped[0].set()
        forwarder.listening_port = 50999
        forwarder.service_name = service_name
        self.forwarders.append(forwarder)

    def _wda(self, client: Any, base_url: str = "", *_: Any, **__: Any) -> None:
        client.start_session.return_value = "S1"
        client.get_status.return_value = {"value": {"ready": True}}
        client.get_window_size.return_value = {"width": 390, "height": 844}

        def press_button(name: str, session_id: str | None = None) -> None:
            self.wda_presses.append(name)
            if name == "home":
                self.recent, self.foreground = self.foreground or self.recent, None

        def swipe(
            start_x: int,
            start_y: int,
            end_x: int,
            end_y: int,
            duration: float = 0.2,
            session_id: str | None = None,
        ) -> None:
            self.swipes.append((start_x, start_y, end_x, end_y))
            card = self.foreground or self.recent  # the switcher centres the latest app
            if start_y == 844 // 2 and end_y < start_y and card:  # the card, swiped up
                self.running.pop(card, None)
                self.foreground = self.recent = None

        def unlock(session_id: str | None = None) -> None:
            self.locked = False

        client.press_button.side_effect = press_button
        client.swipe.side_effect = swipe
        client.unlock.side_effect = unlock


def make_app(
    folder: Path,
    *,
    build: str = "1",
    get_task_allow: bool | None = True,
    devices: list[str] | None = None,
    expires: datetime | None = None,
    min_os: str = "16.0",
) -> Path:
    """A development-signed .app: Info.plist, an executable with an entitlements blob, a profile."""
    app = folder / "BGProbe.app"
    app.mkdir(parents=True)
    plist = plistlib.loads(PROBE_PLIST.read_bytes())
    plist.update(CFBundleVersion=build, MinimumOSVersion=min_os)
    (app / "Info.plist").write_bytes(plistlib.dumps(plist))
    binary = b"\xcf\xfa\xed\xfe" + b"\0" * 64
    if get_task_allow is not None:
        blob = plistlib.dumps({"get-task-allow": get_task_allow, "application-identifier": "T.x"})
        binary += b"\xfa\xde\x71\x71" + (len(blob) + 8).to_bytes(4, "big") + blob
    (app / "BGProbe").write_bytes(binary)
    profile = {
        "Name": "BGProbe Development",
        "ExpirationDate": expires or datetime(2099, 1, 1),
        "ProvisionedDevices": devices if devices is not None else [UDID],
        "Entitlements": {"get-task-allow": bool(get_task_allow)},
    }
    (app / "embedded.mobileprovision").write_bytes(b"0\x82CMS" + plistlib.dumps(profile) + b"\0sig")
    return app


def bgharness_threads() -> list[str]:
    return [t.name for t in threading.enumerate() if t.name.startswith("bgharness-")]


# -- The fakes are strict ------------------------------------------------------------------------


def test_a_misspelled_method_on_a_fake_fails():
    control = spec(ProcessControl)
    with pytest.raises(AttributeError):
        control.lunch  # noqa: B018 (the access is the test)


def test_a_changed_signature_fails():
    phone = FakePhone()

    async def call() -> None:
        await phone.pmd3.create_using_usbmux(
            serial=UDID, pair_timeout=0, autopair=True, usbmuxd="x"
        )

    with pytest.raises(TypeError):
        asyncio.run(call())
    with pytest.raises(TypeError):
        phone.pmd3.ProcessControl()  # the real __init__ needs its DvtProvider


def test_the_pmd3_seam_names_real_pymobiledevice3_objects():
    real = Pmd3.real()
    assert real.ProcessControl is ProcessControl and real.list_devices is list_devices
