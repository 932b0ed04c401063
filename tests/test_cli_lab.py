"""`bgharness who`, `release`, `matrix` and `report`, run through the console script's main."""

import json
import stat
import time
from dataclasses import replace
from pathlib import Path

import pytest

from harness.lab.lease import Holder, LeaseDir
from harness.surfaces.cli import main
from tests.paths import PROBE_PLIST

LAB = f"""\
apps:
  BGProbe: {{path: {PROBE_PLIST}}}
devices:
  - name: virtual-iphone
    backend: virtual
  - name: iphone-a
    backend: ios
    udid: 00008110-000A1B2C3D4E5F60
    tags: [lab]
    host: lab-mac-1
    apps: []
  - name: iphone-b
    backend: ios
    udid: 00008110-000A1B2C3D4E5F61
    tags: [lab]
    host: lab-mac-1
    apps: []
  - name: iphone-remote
    backend: ios
    udid: 00008110-000A1B2C3D4E5F62
    usbmux: 10.0.0.5:27015
    apps: []
"""


@pytest.fixture
def leases(tmp_path, monkeypatch) -> LeaseDir:
    monkeypatch.setenv("BGHARNESS_LEASE_DIR", str(tmp_path / "leases"))
    return LeaseDir(tmp_path / "leases")


def test_who_shows_each_holder_and_release_refuses_a_live_one(leases, capsys):
    holder = replace(Holder.this_process(env={"BUILD_TAG": "jenkins-nightly-7"}), worker="gw1")
    leases.try_acquire("k1", "iphone-a", holder, ttl=60)
    assert main(["who"]) == 0
    out = capsys.readouterr().out
    assert "iphone-a" in out and f"pid {holder.pid} (gw1)" in out
    assert "Jenkins jenkins-nightly-7" in out and "held (renewed" in out

    assert main(["release", "iphone-a"]) == 2
    err = capsys.readouterr().err
    assert "it is alive and renewing its lease" in err and "--force" in err
    assert main(["release", "--force", "iphone-a"]) == 0
    assert "released iphone-a: it was held by" in capsys.readouterr().out
    assert main(["who"]) == 0
    assert "no device is held" in capsys.readouterr().out


def test_release_frees_a_stale_lease_without_force(leases, capsys):
    gone = replace(Holder.this_process(env={}), host="lab-mac-9", pid=4242)
    leases.try_acquire("k1", "iphone-a", gone, ttl=0.01)
    time.sleep(0.05)
    assert main(["who", "--json"]) == 0
    [line] = capsys.readouterr().out.splitlines()
    assert "last renewed it" in json.loads(line)["stale"]
    assert main(["release", "iphone-a"]) == 0
    assert "(its holder (pid 4242" in capsys.readouterr().out


def test_matrix_has_one_job_per_lab_host(tmp_path, capsys):
    (tmp_path / "devices.yaml").write_text(LAB)
    assert main(["matrix", "--devices", str(tmp_path / "devices.yaml")]) == 0
    jobs = json.loads(capsys.readouterr().out)["jobs"]
    assert [(j["host"], j["devices"]) for j in jobs] == [
        ("virtual", ["virtual-iphone"]),
        ("lab-mac-1", ["iphone-a", "iphone-b"]),
        ("10.0.0.5", ["iphone-remote"]),
    ]
    assert jobs[1]["pytest_args"] == "--device iphone-a --device iphone-b"
    assert jobs[1]["results"] == "allure-results-lab-mac-1"


def test_matrix_for_github_is_one_line_for_fromjson(tmp_path, capsys):
    (tmp_path / "devices.yaml").write_text(LAB)
    args = ["matrix", "--devices", str(tmp_path / "devices.yaml"), "--format", "github"]
    assert main([*args, "--device-filter", "lab"]) == 0
    out = capsys.readouterr().out
    assert out.count("\n") == 1
    [job] = json.loads(out)["include"]
    assert job["runs_on"] == ["self-hosted", "lab-mac-1"]
    assert job["devices"] == "iphone-a iphone-b"
    assert main([*args, "--device", "virtual-iphone"]) == 0
    assert json.loads(capsys.readouterr().out)["include"][0]["runs_on"] == "ubuntu-latest"


def test_matrix_per_device_and_for_jenkins(tmp_path, capsys):
    (tmp_path / "devices.yaml").write_text(LAB)
    args = ["matrix", "--devices", str(tmp_path / "devices.yaml"), "--per-device"]
    assert main([*args, "--format", "jenkins"]) == 0
    stages = json.loads(capsys.readouterr().out)
    assert [(s["name"], s["label"]) for s in stages] == [
        ("virtual-iphone", None),
        ("iphone-a", "lab-mac-1"),
        ("iphone-b", "lab-mac-1"),
        ("iphone-remote", "10.0.0.5"),
    ]


def test_a_phone_on_no_known_mac_is_an_error_that_says_to_add_its_host(tmp_path, capsys):
    (tmp_path / "devices.yaml").write_text(LAB.replace("    host: lab-mac-1\n", "", 1))
    assert main(["matrix", "--devices", str(tmp_path / "devices.yaml")]) == 2
    err = capsys.readouterr().err
    assert "iphone-a (line 6 of the inventory): which lab Mac is it plugged into?" in err
    assert "Add `host: NAME`" in err


def _fake_allure(folder: Path) -> Path:
    """An `allure` that behaves like Allure 3's generate (version, then an index.html)."""
    script = folder / "allure"
    script.write_text(
        "#!/bin/sh\n"
        'if [ "$1" = "--version" ]; then echo 3.18.0; exit 0; fi\n'
        'out=""; while [ $# -gt 0 ]; do [ "$1" = "--output" ] && out="$2"; shift; done\n'
        'mkdir -p "$out" && echo "<html>report</html>" > "$out/index.html"\n'
    )
    script.chmod(script.stat().st_mode | stat.S_IEXEC)
    return script


def test_report_merges_results_and_runs_allure(tmp_path, capsys, monkeypatch):
    results = tmp_path / "reports/allure-results"
    results.mkdir(parents=True)
    (results / "u1-result.json").write_text("{}")
    monkeypatch.chdir(tmp_path)
    allure = _fake_allure(tmp_path)
    assert main(["report", "--allure", str(allure)]) == 0
    assert "merged 1 results from 1 folder; the report is reports/html/index.html" in (
        capsys.readouterr().out
    )
    assert (tmp_path / "reports/html/index.html").read_text().startswith("<html>")
    # a second build replaces the report; a folder that is not a report is never removed
    assert main(["report", "--allure", str(allure)]) == 0
    (tmp_path / "precious").mkdir()
    (tmp_path / "precious/notes.txt").write_text("keep")
    assert main(["report", "--allure", str(allure), "--output", "precious"]) == 2
    assert "is not an Allure report" in capsys.readouterr().err
    assert (tmp_path / "precious/notes.txt").exists()
