"""The Device contract every backend implements, and the records it returns.

Synchronous verbs, callable from tests (docs/architecture.md, "The Device contract"). A verb
a device cannot do raises `Unsupported` naming what would make it possible; it never silently
does nothing. The session and the plugin talk to devices only through this Protocol.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from harness.core.clock import Clock
from harness.core.debugger import DebugSession
from harness.core.events import LogEntry

# Install progress: called with a stage ("upload", "install") and the fraction done.
Progress = Callable[[str, float], None]

# Network condition profiles a test may ask for; the backend maps them to the device's own.
NETWORK_PROFILES = ("offline",)
# Where the phone's power comes from (facts B2: requiresExternalPower; G6: the CPU monitor).
POWER_SOURCES = ("charger", "battery")


@dataclass(frozen=True)
class DeviceInfo:
    udid: str
    name: str
    model: str
    ios_version: str
    ios_build: str
    backend: str
    capabilities: frozenset[str] = field(default_factory=frozenset)

    @property
    def virtual(self) -> bool:
        return self.backend == "virtual"


class LogStream(Protocol):
    """The device log from now on; iteration ends after `close()`."""

    def __iter__(self) -> Iterator[LogEntry]: ...

    def close(self) -> None: ...


class Device(Protocol):
    """One iPhone, real or virtual. Called by `Session`, `App` and the plugin."""

    name: str
    warnings: list[str]  # how the device differs from devices.yaml, said in the report

    @property
    def clock(self) -> Clock: ...

    def info(self) -> DeviceInfo: ...

    def install(self, app: Path, progress: Progress | None = None) -> bool:
        """Install an .ipa or .app; False when the same content was already installed."""

    def uninstall(self, bundle_id: str) -> None: ...

    def installed(self, bundle_id: str) -> bool: ...

    def launch(self, bundle_id: str, env: dict[str, str], args: list[str]) -> int:
        """Launch in the foreground (killing a running instance first); the new pid."""

    def pid(self, bundle_id: str) -> int | None:
        """The running app's pid, or None."""

    def kill(self, pid: int) -> None:
        """SIGKILL: the system-termination case; the app stays eligible for background launches."""

    def background(self) -> None:
        """Send the foreground app to the background (Home)."""

    def force_quit(self, bundle_id: str) -> None:
        """The user's app-switcher swipe; iOS then stops the app's background work."""

    def lock(self) -> None: ...

    def unlock(self) -> None: ...

    def locked(self) -> bool: ...

    def set_network(self, profile: str) -> None: ...

    def reboot(self) -> None:
        """Restart the phone; it comes back locked and before its first unlock (facts G3: the
        AfterFirstUnlock classes are unreadable until then). Undone by `unlock`."""

    def set_power(self, source: str) -> None:
        """`charger` or `battery` (POWER_SOURCES): facts B2 requiresExternalPower, G6."""

    def set_low_power_mode(self, on: bool) -> None:
        """Settings › Battery › Low Power Mode (facts B1, G5)."""

    def set_background_refresh(self, on: bool) -> None:
        """Settings › General › Background App Refresh (facts B1, B6: off → submit code 1)."""

    def set_memory_pressure(self, on: bool) -> None:
        """Other apps need memory: the system jetsams background apps (facts G1)."""

    def clear_network(self) -> None: ...

    def log_stream(self) -> LogStream: ...

    def debugger(self, pid: int) -> DebugSession:
        """Attach to `pid`; use as a context manager so it always detaches."""

    def screenshot(self) -> bytes: ...

    def tap(self, element: str) -> None:
        """Tap the element with this accessibility identifier in the foreground app: a person's
        action (facts B3: continued tasks must start from one). Needs WebDriverAgent on a phone."""

    def answer_prompt(self, bundle_id: str, choice: str) -> None:
        """Answer the system's "continue running this task?" prompt of a continued task:
        `continue` or `stop` (facts B3 [M]). Needs WebDriverAgent on a phone."""

    def close(self) -> None:
        """Release the connection; the device is left as the journal says it should be."""
