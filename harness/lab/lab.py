"""The lab: the devices and apps of one inventory, opened and installed on demand.

The pytest plugin and the CLI both go through a `Lab`, so a device is opened the same way
everywhere: take its lease (harness.lab.lease: one run at a time), connect, then undo whatever a
crashed run left on it (the journal) before anyone uses it. Installs are remembered for the
life of the Lab, so each app goes on once a run. A Lab made without `leases` takes none (a
quick look from the CLI); the pytest plugin always passes them.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from harness.core.errors import UsageError
from harness.data.appbundle import AppInfo, read_app
from harness.data.inventory import DeviceRecord, Inventory, load_inventory
from harness.data.journal import Journal
from harness.device.backends import open_device
from harness.device.contract import Device, Progress
from harness.lab.lease import Leases, lease_key
from harness.session.session import recover


class Lab:
    def __init__(
        self,
        inventory: Inventory,
        state_dir: Path,
        say: Callable[[str], None],
        leases: Leases | None = None,
    ):
        self.inventory = inventory
        self.state_dir = state_dir
        self.journal = Journal(state_dir)
        self.leases = leases
        self._say = say
        self._devices: dict[str, Device] = {}
        self._installed: dict[tuple[str, str], AppInfo] = {}

    @classmethod
    def load(
        cls,
        devices_yaml: str | Path,
        state_dir: Path,
        say: Callable[[str], None],
        leases: Leases | None = None,
    ) -> Lab:
        return cls(load_inventory(devices_yaml), state_dir, say, leases)

    def record(self, name: str) -> DeviceRecord:
        return self.inventory.select([name])[0]

    def lease_key(self, name: str) -> str:
        """The name of the device's lease in the lease folder."""
        return lease_key(self.record(name), self.state_dir)

    def open(self, name: str) -> Device:
        """The device, leased and connected once; what a crashed run left on it is undone first.

        Raises DeviceBusy (naming the holder) when another run keeps it past the lease wait.
        """
        if name not in self._devices:
            key = self.lease_key(name)
            if self.leases is not None:
                self.leases.acquire(key, name, str(self.state_dir.absolute()))
            device: Device | None = None
            try:
                device = open_device(self.record(name), self.state_dir)
                for line in [*recover(device, self.journal), *device.warnings]:
                    self._say(line)
            except BaseException:
                if device is not None:
                    device.close()
                if self.leases is not None:
                    self.leases.release(key)  # a device we cannot use is no use held
                raise
            self._devices[name] = device
        return self._devices[name]

    def check_lease(self, name: str, method: str) -> None:
        """Raise LeaseLost when this run no longer holds the device (before each test)."""
        if self.leases is not None and name in self._devices:
            self.leases.check(self.lease_key(name), method)

    def app_for(self, name: str, app_name: str | None = None) -> str:
        """The app a device's tests use: the one named, else the device's first, else the first."""
        if app_name is not None:
            if app_name not in self.inventory.apps:
                raise UsageError(
                    f"no app named {app_name!r} in {self.inventory.path}; "
                    f"known: {', '.join(self.inventory.apps)}"
                )
            return app_name
        apps = self.record(name).apps or tuple(self.inventory.apps)
        if not apps:
            raise UsageError(f"{self.inventory.path} lists no apps; add one under `apps:`")
        return apps[0]

    def install(self, name: str, app_name: str, reinstall: bool = False) -> AppInfo:
        """Install the app on the device once per Lab (always, the first time, with reinstall)."""
        key = (name, app_name)
        if key not in self._installed:
            device = self.open(name)
            entry = self.inventory.apps[app_name]
            info = read_app(entry.path)
            if reinstall and device.installed(info.bundle_id):
                device.uninstall(info.bundle_id)
            said = len(device.warnings)
            device.install(entry.path, progress=self._install_progress(name, app_name))
            for line in device.warnings[said:]:  # preflight findings, e.g. not debuggable
                self._say(line)
            for other in [k for k, v in self._installed.items() if k[0] == name]:
                if self._installed[other].bundle_id == info.bundle_id:
                    del self._installed[other]  # the same bundle id: this build replaced it
            self._installed[key] = info
        return self._installed[key]

    def _install_progress(self, name: str, app_name: str) -> Progress:
        """Say the install's progress in quarters, so a slow upload is seen to move."""
        said: set[tuple[str, int]] = set()

        def progress(stage: str, fraction: float) -> None:
            quarter = int(fraction * 4)
            if (stage, quarter) not in said:
                said.add((stage, quarter))
                self._say(f"{name}: {stage} {app_name}: {quarter * 25} %")

        return progress

    def close(self) -> None:
        """Close every device, then give their leases back (even when a close fails)."""
        try:
            for device in self._devices.values():
                device.close()
        finally:
            self._devices.clear()
            if self.leases is not None:
                self.leases.release_all()
