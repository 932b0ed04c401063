"""The evidence a failing test leaves, in Allure and in reports/artifacts/<test>/: the timeline
picture, the device log since the test began (the app's and the scheduler's lines unless
--bg-full-log), the parsed events, device info, and a screenshot where the device takes one.
The test's records (events.jsonl, written as they happen by harness.session.records) are
already in that folder; they are written here only when that file is missing.

Evidence never hides the test's own failure: a folder that cannot be written (full or read-only
disk) is one warning, and the run goes on.
"""

from __future__ import annotations

import contextlib
import json
import re
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import allure

from harness.core import timeline_svg
from harness.core.errors import HarnessError
from harness.session.session import Session
from harness.surfaces import report

# The test's records, in its folder (harness.session.records writes them as they happen).
RECORDS = "events.jsonl"


@dataclass(frozen=True)
class Evidence:
    """One piece of a failure's evidence: its file name on disk, its Allure title and type."""

    name: str
    title: str
    kind: Any  # an allure.attachment_type
    body: str | bytes


def artifact_folder(artifacts: Path, nodeid: str) -> Path:
    """A test's own folder under the artifacts folder, named after its node id."""
    return artifacts / re.sub(r"[^A-Za-z0-9_.-]+", "_", nodeid)


def unwritable(device: str, what: str, folder: Path, exc: OSError) -> str:
    """The one warning for a folder that cannot be written, with the fix."""
    return (
        f"{device}: could not write {what} to {folder} ({exc.strerror or exc}); free space "
        "there or make it writable, or set --bg-artifacts DIR"
    )


def leave_evidence(
    session: Session, test: str, folder: Path, full_log: bool, say: Callable[[str], None]
) -> bool:
    """Attach what QA needs to judge a failure, to Allure and to `folder`; False (after one
    warning) when the folder could not be written."""
    try:
        files = evidence(session, test, full_log)
    except Exception as exc:  # evidence must never hide the test's own failure
        say(f"{session.device.name}: could not gather the failure's evidence: {exc!r}")
        return True
    try:
        for file in files:
            allure.attach(file.body, file.title, file.kind)
        folder.mkdir(parents=True, exist_ok=True)
        if not (folder / RECORDS).exists():  # a session without records (or they were lost)
            session_events = session.timeline.events(session.started)
            events = "".join(json.dumps(e.as_json()) + "\n" for e in session_events)
            files.append(Evidence(RECORDS, "", None, events))
        for file in files:
            body = file.body if isinstance(file.body, bytes) else file.body.encode()
            (folder / file.name).write_bytes(body)
    except OSError as exc:  # full or read-only disk: the failure still reports, the run goes on
        say(unwritable(session.device.name, "the failure's evidence", folder, exc))
        return False
    return True


def save_traceback(folder: Path, traceback: str) -> None:
    """An infra failure's traceback, kept in its test's folder (best effort)."""
    with contextlib.suppress(OSError):
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "traceback.txt").write_text(traceback)


def evidence(session: Session, test: str, full_log: bool = False) -> list[Evidence]:
    """The timeline picture, the log since the test began, its events, device info, screen."""
    start = session.started
    now = session.clock.now()
    events = session.timeline.events(start)
    entries = session.timeline.entries(start)
    log = report.device_log(entries, session.app.info if session.app else None, full_log)
    info = session.device.info()
    svg = timeline_svg.render(
        events,
        session.spans,
        start=start.time,
        end=now,
        title=f"{info.name} · {test}",
        misses=session.misses,
    )
    about = {
        **asdict(info),
        "capabilities": sorted(info.capabilities),
        "spans": [asdict(s) for s in session.spans],
    }
    files = [
        Evidence("timeline.svg", "timeline", allure.attachment_type.SVG, svg),
        Evidence("device.log", "device log since the test began", allure.attachment_type.TEXT, log),
        Evidence(
            "events.json",
            "events",
            allure.attachment_type.JSON,
            json.dumps([e.as_json() for e in events], indent=1),
        ),
        Evidence("device.json", "device info", allure.attachment_type.JSON, json.dumps(about)),
    ]
    with contextlib.suppress(HarnessError):  # Unsupported: the virtual iPhone has no screen
        png = session.device.screenshot()
        files.append(Evidence("screenshot.png", "screenshot", allure.attachment_type.PNG, png))
    return files
