"""The ios backend's connections to one iPhone: lockdown, the tunnel's RSD, DVT, held ones.

`Connections` opens and checks a phone (its facts, Developer Mode, the disk image, the tunnel),
hands the Device verbs (harness.device.backends.ios) the clients they need, reusing them, and closes
them. A connection kept open on purpose (a network condition, a debugserver port forward) is a
`Held`. `Pmd3` names every pymobiledevice3 entry point the backend calls, so tests can swap them.
Everything here runs on the phone's `DeviceLoop`.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from pymobiledevice3.exceptions import InvalidServiceError, StartServiceError

from harness.core.errors import DeviceUnavailable, HarnessError, InfraError, Unsupported
from harness.core.udid import same_udid
from harness.core.versions import is_version, major, version_key
from harness.data.inventory import DeviceRecord
from harness.device.backends.ios_errors import Where, fix_disk_image, fix_tunnel
from harness.device.backends.ios_errors import fix_developer_mode as _fix_developer_mode

CLOSE_TIMEOUT_S = 10.0


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


@dataclass
class Facts:
    """What the phone said of itself when it was opened."""

    version: str
    build: str
    model: str
    device_name: str

    @property
    def major(self) -> int:
        return major(self.version) or 0


@dataclass
class Dvt:
    """One instruments connection and the channels the verbs reuse on it."""

    provider: Any
    process_control: Any
    screenshot: Any = None


@dataclass
class Held:
    """A connection kept open on purpose: the condition ends, or the forward stops, with it.

    `provider` is its own lockdown client or RSD; `connection` the DvtProvider (closed) or the
    port forwarder (stopped, its `task` awaited); `service` the condition inducer, if any.
    """

    provider: Any
    connection: Any
    service: Any = None
    task: Any = None
    detail: str = ""


class Connections:
    """The clients one phone's verbs share; see the module docstring.

    `opening` is set while the device is being opened: what cannot be reached then is
    `DeviceUnavailable` (the phone is not ready), afterwards `InfraError` (it was lost).
    """

    def __init__(self, record: DeviceRecord, where: Where, pmd3: Pmd3, warn: Callable[[str], None]):
        self.name = record.name
        self._record = record
        self._udid = record.udid or ""
        self._where = where
        self._usbmux = f"{record.usbmux.host}:{record.usbmux.port}" if record.usbmux else None
        self._pmd3 = pmd3
        self._warn = warn
        self.opening = False
        self.facts: Facts | None = None
        self.clock_offset: float | None = None  # the phone's clock minus the host's
        self._client: Any = None
        self.rsd: Any = None
        self.dvt: Dvt | None = None
        self.condition: Held | None = None
        self.forward: Held | None = None

    async def new_lockdown(self) -> Any:
        """A fresh lockdown client; asks for the Trust dialog but never waits for it."""
        return await self._pmd3.create_using_usbmux(
            serial=self._udid, autopair=True, pair_timeout=0, usbmux_address=self._usbmux
        )

    async def lockdown(self) -> Any:
        if self._client is None:
            self._client = await self.new_lockdown()
        return self._client

    async def open(self) -> None:
        """Open: lockdown, the phone's facts, Developer Mode, the disk image, the tunnel."""
        lockdown = await self.lockdown()
        values = lockdown.all_values
        facts = Facts(
            version=str(values.get("ProductVersion") or "0"),
            build=str(values.get("BuildVersion") or ""),
            model=str(values.get("ProductType") or ""),
            device_name=str(values.get("DeviceName") or ""),
        )
        self.facts = facts
        now = await lockdown.get_value(key="TimeIntervalSince1970")
        if isinstance(now, (int, float)):
            self.clock_offset = float(now) - time.time()
        for line in declared_mismatches(self._record, facts.version, facts.build, facts.model):
            self._warn(f"{self.name}: {line}")
        if facts.major >= 16 and not await lockdown.get_developer_mode_status():
            raise self.lost(
                f"{self.name}: Developer Mode is off: {_fix_developer_mode(self._where)}"
            )
        if facts.major >= 17 and self._record.tunnel is None:
            raise Unsupported(
                self.name,
                f"testing on iOS {facts.version} without a tunnel",
                fix_tunnel(self._where),
            )
        if not await self.disk_image_mounted(lockdown):
            raise self.lost(
                f"{self.name}: the developer disk image is not mounted: "
                f"{fix_disk_image(self._where)}"
            )
        await self.developer()

    async def disk_image_mounted(self, lockdown: Any) -> bool:
        facts = self.require_facts()
        kind = "Developer" if facts.major < 17 else "Personalized"
        async with self._pmd3.MobileImageMounterService(lockdown) as mounter:
            return await mounter.is_image_mounted(kind)

    async def developer(self) -> Any:
        """The provider of developer services: lockdown below iOS 17, the tunnel's RSD from 17."""
        if self.require_facts().major < 17:
            return await self.lockdown()
        if self.rsd is None:
            self.rsd = await self.tunnel_rsd()
        return self.rsd

    async def own_developer_provider(self) -> Any:
        """A provider only its holder uses (a held condition, a port forward) and closes."""
        if self.require_facts().major < 17:
            return await self.new_lockdown()
        return await self.tunnel_rsd()

    async def tunnel_rsd(self) -> Any:
        """The phone's RSD from tunneld (which serves one tunnel per attached iOS 17+ phone)."""
        address = self._record.tunnel
        if address is None:
            raise Unsupported(self.name, "developer services on iOS 17+", fix_tunnel(self._where))
        tunnels = await self._pmd3.get_tunneld_tunnels(tuple(address))
        key = next((udid for udid in tunnels if same_udid(udid, self._udid)), None)
        if key is None:
            raise self.lost(
                f"{self.name}: no tunnel: tunneld at {address} has none for {self._udid} (it "
                f"serves {len(tunnels)} other phone(s)): plug the phone into the Mac tunneld runs "
                "on, trust that Mac, and give tunneld a few seconds to build the tunnel"
            )
        try:
            rsd = await self._pmd3.get_tunneld_device_by_udid(key, tuple(address))
        except IndexError:  # pymobiledevice3 11.45 indexes an empty list when no tunnel answers
            rsd = None
        if rsd is None:
            raise self.lost(
                f"{self.name}: tunneld at {address} lists a tunnel for this phone but it does not "
                "answer: replug the phone or restart tunneld (`sudo pymobiledevice3 remote "
                "tunneld`)"
            )
        return rsd

    async def dvt_session(self) -> Dvt:
        if self.dvt is None:
            dvt = self._pmd3.DvtProvider(await self.developer())
            await self.connect_developer_service(dvt)
            control = self._pmd3.ProcessControl(dvt)
            await control.connect()
            self.dvt = Dvt(dvt, control)
        return self.dvt

    async def process_control(self) -> Any:
        return (await self.dvt_session()).process_control

    async def connect_developer_service(self, dtx_provider: Any) -> None:
        """Connect; a refused developer service is diagnosed: Developer Mode, or the disk image."""
        try:
            await dtx_provider.connect()
        except (InvalidServiceError, StartServiceError) as exc:
            lockdown = await self.lockdown()
            if self.require_facts().major >= 16 and not await lockdown.get_developer_mode_status():
                raise self.lost(
                    f"{self.name}: Developer Mode is off: {_fix_developer_mode(self._where)}"
                ) from exc
            if not await self.disk_image_mounted(lockdown):
                raise self.lost(
                    f"{self.name}: the developer disk image is not mounted: "
                    f"{fix_disk_image(self._where)}"
                ) from exc
            raise

    async def disconnect(self, keep_held: bool = False) -> None:
        """Close connections, best effort; `keep_held` spares the condition and the forward."""
        dvt, self.dvt = self.dvt, None
        rsd, self.rsd = self.rsd, None
        lockdown, self._client = self._client, None
        closers = [dvt.provider.close() if dvt else None]
        if not keep_held:
            closers += [self.release(self.forward), self.release(self.condition)]
            self.forward = self.condition = None
        closers += [rsd.close() if rsd else None, lockdown.close() if lockdown else None]
        for closer in closers:
            if closer is not None:
                with contextlib.suppress(Exception):
                    await closer

    async def release(self, held: Held | None) -> None:
        if held is None:
            return
        if held.task is not None:
            held.connection.stop()
            await _ended(held.task, CLOSE_TIMEOUT_S)
        else:
            with contextlib.suppress(Exception):
                await held.connection.close()
        with contextlib.suppress(Exception):
            await held.provider.close()

    def require_facts(self) -> Facts:
        if self.facts is None:
            raise InfraError(f"{self.name}: the device is not open; open it first")
        return self.facts

    def lost(self, message: str) -> HarnessError:
        """Cannot reach something the phone needs: skipped while opening, infra afterwards."""
        return DeviceUnavailable(message) if self.opening else InfraError(message)


async def _ended(task: Any, timeout: float) -> None:
    """Wait for a held task to end, whatever it ended with; never swallow our own cancellation.

    The task's own failure or cancellation is the connection closing (best effort); a
    CancelledError while we ourselves are being cancelled, or a KeyboardInterrupt, goes on.
    """
    try:
        await asyncio.wait_for(task, timeout)
    except asyncio.CancelledError:
        current = asyncio.current_task()
        if current is not None and current.cancelling():
            raise
    except (KeyboardInterrupt, SystemExit):
        raise
    except BaseException:  # the forward's own error or its timeout: it is stopped either way
        pass
