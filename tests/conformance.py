"""Runs one conformance fixture against the virtual iPhone's probe
(harness.device.backends.virtual_probe).

A fixture is a plan, the system's answers, the stimuli in order and the exact probe events (and
BGTaskScheduler/service calls) expected. ProbeKit's XCTest runs the same files with its own fakes,
written to the same rules: suites/apps/BGProbe/ProbeKit/Tests/ProbeKitTests/ConformanceTests.swift.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from harness.core.clock import VirtualClock
from harness.core.errors import PlanError
from harness.data.plan import Request, plan_from_json
from harness.device.backends.virtual_probe import ProbeRunner
from tests.paths import ROOT

FIXTURES = ROOT / "suites/apps/BGProbe/conformance/fixtures.json"


@dataclass
class FakeSystem:
    """BGTaskScheduler and the services, answering as the fixture's `system` says."""

    calls: list[str] = field(default_factory=list)
    answers: dict[str, Any] = field(default_factory=dict)
    expirations: dict[str, Callable[[], None]] = field(default_factory=dict)
    uploads: list[Callable[[int], None]] = field(default_factory=list)
    burns: list[Callable[[], None]] = field(default_factory=list)

    @property
    def supported_resources(self) -> list[str]:
        return list(self.answers.get("supported_resources", []))

    def register(self, task: str) -> bool:
        self.calls.append(f"register:{task}")
        return task not in self.answers.get("register_refused", [])

    def submit(self, request: Request) -> int | None:
        self.calls.append(f"submit:{request.type}:{request.id}")
        return self.answers.get("submit_errors", {}).get(request.id)

    def cancel(self, task: str) -> None:
        self.calls.append(f"cancel:{task}")

    def cancel_all(self) -> None:
        self.calls.append("cancel_all")

    def network_up(self) -> bool:
        return self.answers.get("network", True)

    def keychain_read(self, accessibility: str) -> int:
        self.calls.append(f"keychain:{accessibility}")
        return self.answers.get("keychain", {}).get(accessibility, 0)

    def file_access(self, op: str, protection: str) -> bool:
        self.calls.append(f"file:{op}:{protection}")
        return f"{op}:{protection}" not in self.answers.get("file_denied", [])

    def begin_background_task(self, name: str, on_expire: Callable[[], None]) -> None:
        self.calls.append(f"begin_background_task:{name}")
        self.expirations[name] = on_expire

    def end_background_task(self, name: str) -> None:
        self.calls.append(f"end_background_task:{name}")

    def upload(self, size: int, done: Callable[[int], None]) -> None:
        self.calls.append(f"upload:{size}")
        self.uploads.append(done)

    def allocate(self, mb: int) -> bool:
        self.calls.append(f"allocate:{mb}")
        return self.answers.get("allocate", True)

    def gpu_work(self) -> bool:
        self.calls.append("gpu_work")
        return self.answers.get("gpu", False)

    def burn_cpu(self, seconds: int, percent: int, done: Callable[[], None]) -> None:
        self.calls.append(f"cpu:{seconds}:{percent}")
        self.burns.append(done)


@dataclass(eq=False)
class FakeTask:
    """A BGTask handed to the launch handler; records what the handler does with it."""

    system: FakeSystem
    identifier: str
    type: str
    expiration_handler: Callable[[], None] | None = None

    def set_progress(self, form: str, completed: int, total: int) -> None:
        self.system.calls.append(f"progress:{self.identifier}:{form}:{completed}/{total}")

    def set_completed(self, success: bool) -> None:
        self.system.calls.append(f"completed:{self.identifier}:{str(success).lower()}")


def run_fixture(fixture: dict[str, Any]) -> tuple[list[dict[str, Any]], list[str]]:
    """The probe events (as `bgprobe` JSON bodies) and the calls, for one fixture."""
    events: list[dict[str, Any]] = []
    system = FakeSystem(answers=dict(fixture.get("system", {})))
    clock = VirtualClock(0.0)

    def emit(kind: str, task: str | None, attrs: dict[str, Any]) -> None:
        body = {"event": kind, **({"task": task} if task else {}), **attrs}
        events.append(json.loads(json.dumps(body)))  # exactly what the log line carries

    probe = ProbeRunner(system, system, clock, emit)
    tasks: dict[str, FakeTask] = {}
    plan_text = fixture.get("plan_text") or json.dumps(fixture["plan"])
    for stimulus in fixture["stimuli"]:
        ((verb, arg),) = stimulus.items()
        if verb == "launch":
            try:
                plan = plan_from_json(plan_text)
                probe.launch(plan.relaunch() if arg == "background" else plan, arg)
            except PlanError as exc:
                probe.reject(arg, exc.paths[0] if exc.paths else "plan", exc.why)
        elif verb == "tap":
            probe.tap(arg)
        elif verb == "run":
            tasks[arg["id"]] = FakeTask(system, arg["id"], arg["type"])
            probe.run(tasks[arg["id"]])
        elif verb == "expire":
            handler, tasks[arg].expiration_handler = tasks[arg].expiration_handler, None
            system.calls.append(f"expire:{arg}:{'handler' if handler else 'no_handler'}")
            if handler:
                handler()
        elif verb == "advance":
            clock.advance(float(arg))
        elif verb == "system":
            system.answers.update(arg)
        elif verb == "bgtime_expire":
            system.expirations.pop(arg)()
        elif verb == "upload_done":
            system.uploads.pop(0)(int(arg))
        elif verb == "cpu_done":
            system.burns.pop(0)()
        else:
            raise ValueError(f"unknown stimulus {verb!r}")
    return events, system.calls


def load_fixtures() -> list[dict[str, Any]]:
    return json.loads(FIXTURES.read_text())["fixtures"]
