"""One root for every error bgharness raises on purpose.

Each message says what happened and what to do about it, in the user's terms. The CLI and the
pytest plugin print a `HarnessError` as one message, never as a traceback; `infra` separates
failures of the lab (device gone, tunnel down, lldb hung) from failures of the app under test.
"""

from __future__ import annotations


class HarnessError(Exception):
    """Something bgharness could not do; the message names the device and the fix."""

    infra = False


class UsageError(HarnessError):
    """The user's input is wrong: devices.yaml, a plan, a task identifier, a CLI argument."""


class InventoryError(UsageError):
    """devices.yaml is wrong at `path:line`, field `field`."""

    def __init__(self, path: str, line: int | None, field: str, problem: str):
        self.path, self.line, self.field, self.problem = path, line, field, problem
        where = f"{path}:{line}" if line else path
        super().__init__(f"{where}: {field}: {problem}" if field else f"{where}: {problem}")


class PlanError(UsageError):
    """A probe plan does not follow harness/schemas/plan.schema.json.

    `paths` are the plan paths of the problems (`plan.submit[0].id`), `why` one of invalid,
    version, not_json: what the probe app reports in its plan.rejected event.
    """

    paths: list[str] = []  # noqa: RUF012
    why: str = "invalid"


class AppError(UsageError):
    """The app bundle cannot do what the test asks (Info.plist, entitlements)."""


class Unsupported(HarnessError):
    """The device cannot do this verb; the message says what would make it possible."""

    def __init__(self, device: str, verb: str, fix: str):
        self.device, self.verb, self.fix = device, verb, fix
        super().__init__(f"{device}: {verb} is not supported: {fix}")


class DeviceUnavailable(HarnessError):
    """A device of the inventory is not attached or not reachable now; its tests are skipped."""


class InfraError(HarnessError):
    """The lab failed (device vanished, tunnel down, debugger hung); retried, reported as infra."""

    infra = True


class DebuggerError(HarnessError):
    """lldb could not evaluate the expression; `transcript` holds what it printed."""

    def __init__(self, message: str, transcript: str = ""):
        self.transcript = transcript
        super().__init__(message)
