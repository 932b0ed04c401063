"""The state folder: what must outlive a run (the perturbation journal, a virtual iPhone's
state, the record of what was installed on a phone).

One folder per devices.yaml, `reports/.state` next to it, so the pytest plugin and every CLI
command find the same journal whichever directory they were started in.
"""

from __future__ import annotations

from pathlib import Path

STATE_FOLDER = Path("reports") / ".state"


def state_dir(devices_yaml: Path | str) -> Path:
    """The state folder of the lab `devices_yaml` describes."""
    return Path(devices_yaml).absolute().parent / STATE_FOLDER
