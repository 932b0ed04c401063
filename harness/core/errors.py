"""One root for every error bgharness raises on purpose, and the failure category of each.

Each message says what happened and what to do about it, in the user's terms. The CLI and the
pytest plugin print a `HarnessError` as one message, never as a traceback. Each class says which
category a failure it causes falls in (`category`), so the plugin, the Allure report and the
summary file it in the same place without a table of their own:

- `infra`: the lab failed (device gone, tunnel down, lldb hung); not the app's fault.
- `test`: the test or its inputs are wrong (devices.yaml, a plan, a task id, the app build).
- `product`: the app did not do what the test expected (timeline.ExpectationFailed; a plain
  `assert` in a test is product too).
"""

from __future__ import annotations

from typing import ClassVar, Literal

Category = Literal["infra", "product", "test"]
CATEGORIES: tuple[Category, ...] = ("infra", "product", "test")


class HarnessError(Exception):
    """Something bgharness could not do; the message names the device and the fix.

    Raise a subclass: its `category` says where the failure is filed.
    """

    category: ClassVar[Category] = "test"

    @property
    def infra(self) -> bool:
        return self.category == "infra"


class UsageError(HarnessError):
    """The user's input is wrong: devices.yaml, a plan, a task identifier, a CLI argument."""

    category: ClassVar[Category] = "test"


class InventoryError(UsageError):
    """devices.yaml is wrong at `path:line`, field `field`."""

    def __init__(self, path: str, line: int | None, field: str, problem: str):
        self.path, self.line, self.field, self.problem = path, line, field, problem
        where = f"{path}:{line}" if line else path
        super().__init__(f"{where}: {field}: {problem}" if field else f"{where}: {problem}")


class PlanError(UsageError):
    """A probe plan does not follow harness/data/schemas/plan.schema.json.

    `paths` are the plan paths of the problems (`plan.submit[0].id`), `why` one of invalid,
    version, not_json: what the probe app reports in its plan.rejected event.
    """

    paths: list[str] = []  # noqa: RUF012
    why: str = "invalid"


class AppError(UsageError):
    """The app bundle cannot do what the test asks (Info.plist, entitlements)."""


class Unsupported(HarnessError):
    """The device cannot do this verb; the message says what would make it possible."""

    category: ClassVar[Category] = "test"

    def __init__(self, device: str, verb: str, fix: str):
        self.device, self.verb, self.fix = device, verb, fix
        super().__init__(f"{device}: {verb} is not supported: {fix}")


class DeviceUnavailable(HarnessError):
    """A device of the inventory is not attached or not reachable now; its tests are skipped."""

    category: ClassVar[Category] = "infra"


class InfraError(HarnessError):
    """The lab failed (device vanished, tunnel down, debugger hung); retried, reported as infra."""

    category: ClassVar[Category] = "infra"


class DebuggerError(HarnessError):
    """The debugger bridge failed: lldb ran, but what it was asked did not happen (the device
    never answered, the connection dropped). `transcript` holds what lldb printed."""

    category: ClassVar[Category] = "infra"

    def __init__(self, message: str, transcript: str = ""):
        self.transcript = transcript
        super().__init__(message)


class DebugUsageError(DebuggerError, UsageError):
    """The debugger cannot do this for a reason in the test's inputs: the app build (not
    development-signed; does not link BackgroundTasks), the app not running, or a debugger
    session used out of order. Filed as `test`, never as the lab's fault."""

    category: ClassVar[Category] = "test"
