"""The HTML report QA opens: built by Allure's own tool, read back in headless Chromium.

Needs Debian's chromium (`.ci/run` installs it) and Allure's command-line tool (`make report`
installs the npm package into .allure/); without either the tests skip and say which.
"""

import functools
import http.server
import json
import os
import shutil
import subprocess
import sys
import threading
import urllib.request
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from harness.core.errors import HarnessError
from harness.surfaces.report import build_html, find_allure
from tests.paths import PROBE_PLIST

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = next(
    (path for name in ("chromium", "chromium-browser") if (path := shutil.which(name))), None
)


def _allure() -> list[str] | None:
    try:
        return find_allure(cwd=ROOT)
    except HarnessError:
        return None


ALLURE = _allure()

pytestmark = [
    pytest.mark.skipif(
        CHROMIUM is None,
        reason="chromium is not installed (.ci/run installs it: apt-get install -y chromium)",
    ),
    pytest.mark.skipif(
        ALLURE is None,
        reason="Allure's command-line tool is not installed (make report installs it)",
    ),
]

DEVICES = f"""\
apps:
  BGProbe:
    path: {PROBE_PLIST}
devices:
  - name: phone-a
    backend: virtual
    model: iPhone17,3
    ios: "26.1"
    tags: [virtual]
"""

SCENARIOS = """\
import pytest

REFRESH = {"register": ["refresh"], "submit": [{"type": "refresh", "id": "refresh"}]}

@pytest.mark.device
def test_refresh_completes(app, bg):
    app.launch(plan={**REFRESH, "handler": {"work_s": 5}})
    bg.trigger(app.task("refresh"))
    bg.expect("task.completed", task=app.task("refresh"), success=True, within=35)

@pytest.mark.device
def test_never_completes(app, bg):
    app.launch(plan={**REFRESH, "handler": {"complete": "never"}})
    with bg.offline():
        bg.trigger(app.task("refresh"))
        bg.expect("task.completed", task=app.task("refresh"), within=20)
"""


@pytest.fixture(scope="module")
def report(tmp_path_factory) -> Path:
    """Run the scenarios with pytest, then build the HTML report with Allure's CLI."""
    work = tmp_path_factory.mktemp("html-report")
    (work / "devices.yaml").write_text(DEVICES)
    (work / "test_scenarios.py").write_text(SCENARIOS)
    run = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-p",
            "no:cacheprovider",
            "-m",
            "device",
            "--alluredir",
            "ar",
        ],
        cwd=work,
        capture_output=True,
        text=True,
        env={**os.environ, "HOME": str(work)},  # its own lease folder
        check=False,
    )
    assert run.returncode == 1, run.stdout + run.stderr  # one passes, one fails
    assert ALLURE is not None
    build_html([work / "ar"], work / "html", ALLURE, name="bgharness nightly")
    return work / "html"


@pytest.fixture(scope="module")
def served(report):
    """The report over HTTP, as QA reads it from the CI server (file:// blocks its data)."""
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(report))
    handler.log_message = lambda *args: None  # type: ignore[attr-defined]
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


def chromium_dom(url: str, profile: Path) -> str:
    """The page's DOM after its JavaScript has run (virtual time lets it finish loading)."""
    assert CHROMIUM is not None
    done = subprocess.run(
        [
            CHROMIUM,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--no-first-run",
            f"--user-data-dir={profile}",
            "--virtual-time-budget=20000",
            "--dump-dom",
            url,
        ],
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout


def failing_result(report: Path) -> tuple[str, dict]:
    by_id = json.loads((report / "test-results.json").read_text())["byId"]
    [test_id] = [i for i, r in by_id.items() if r["status"] == "failed"]
    return test_id, json.loads((report / f"data/test-results/{test_id}.json").read_text())


def test_the_failing_test_page_shows_the_device_and_the_timeline_picture(report, served, tmp_path):
    test_id, _ = failing_result(report)
    dom = chromium_dom(f"{served}/index.html#{test_id}", tmp_path / "profile")
    assert "test_never_completes[phone-a]" in dom
    parameters = dom[dom.index("Parameters") :]
    assert "device" in parameters[:2000] and "'phone-a'" in parameters[:2000]
    for label in ("device_model", "iPhone17,3", "backend", "virtual", "app_version"):
        assert label in dom, label
    assert ">timeline<" in dom and "image/svg+xml" in dom, "the picture is attached"
    assert "Product: the app did not do what the test expected" in dom


def test_the_timeline_picture_is_served_with_the_report(report, served):
    _, result = failing_result(report)
    [link] = [a["link"] for a in result["attachments"] if a["link"]["name"] == "timeline"]
    url = f"{served}/data/attachments/{link['id']}{link['ext']}"
    with urllib.request.urlopen(url, timeout=10) as response:
        assert response.headers["Content-Type"].startswith("image/svg+xml")
        svg = ET.fromstring(response.read())
    text = " ".join(svg.itertext())
    assert "phone-a · test_never_completes" in text and "dev.bgharness.probe.refresh" in text


def test_the_overview_lists_both_tests_and_the_environment(report, served, tmp_path):
    dom = chromium_dom(f"{served}/index.html", tmp_path / "profile")
    assert "test_refresh_completes[phone-a]" in dom and "test_never_completes[phone-a]" in dom
    env = json.loads((report / "widgets/allure_environment.json").read_text())
    assert {"name": "device.phone-a", "values": ["virtual iPhone, iOS 26.1 (time_scale 0)"]} in env
