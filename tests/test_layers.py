"""The import rule of docs/architecture.md, checked on the modules as they are.

The module → layer table lives in one place, docs/architecture.md (between the `layers`
markers); this test reads it. When the modules move into layer folders, only that table's
`module` column changes.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
ARCHITECTURE = ROOT / "docs" / "architecture.md"
LAYERS = ("core", "data", "device", "session", "lab", "surfaces")
# Only the pytest plugin's modules may import pytest; the core imports nothing that does I/O.
PYTEST = ("pytest", "_pytest", "xdist", "allure", "allure_commons")
PLUGIN = "harness.surfaces.pytest_plugin"
NOT_IN_CORE = (*PYTEST, "subprocess", "socket", "shutil", "pymobiledevice3", "yaml")


def table() -> dict[str, str]:
    """module -> layer, from the table in docs/architecture.md."""
    text = ARCHITECTURE.read_text()
    block = text.split("<!-- layers:", 1)[1].split("<!-- /layers -->", 1)[0]
    rows = re.findall(r"^\| (harness[\w.]*) \| (\w+) \|", block, re.MULTILINE)
    return dict(rows)


def modules() -> dict[str, Path]:
    """Every module of the harness package, by dotted name."""
    found = {}
    for path in sorted((ROOT / "harness").rglob("*.py")):
        parts = path.relative_to(ROOT).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        found[name] = path
    return found


def imports(path: Path, known: set[str]) -> list[str]:
    """The modules `path` imports (at the top or inside a function), harness ones resolved to
    the module: `from harness import report` is harness.surfaces.report."""
    names = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            for alias in node.names:
                sub = f"{node.module}.{alias.name}"
                names.append(sub if sub in known else node.module)
    return names


def violations(layer_of: dict[str, str], imported: dict[str, list[str]]) -> list[str]:
    rank = {layer: n for n, layer in enumerate(LAYERS)}
    said = []
    for module, names in imported.items():
        mine = layer_of[module]
        for name in names:
            top = name.split(".")[0]
            if top == "harness":
                theirs = layer_of.get(name)
                if theirs is not None and rank[theirs] > rank[mine]:
                    said.append(f"{module} ({mine}) imports {name} ({theirs}), a layer above")
            elif top in PYTEST and module != PLUGIN and not module.startswith(PLUGIN + "."):
                said.append(f"{module} imports {name}: only modules of {PLUGIN} may")
            elif top in NOT_IN_CORE and mine == "core":
                said.append(f"{module} is core and imports {name}")
    return said


def test_every_module_has_a_layer_and_every_row_a_module():
    layer_of, found = table(), modules()
    assert set(layer_of.values()) <= set(LAYERS)
    missing = sorted(set(found) - set(layer_of))
    assert not missing, f"add a row to the layers table in docs/architecture.md for {missing}"
    assert sorted(set(layer_of) - set(found)) == [], "rows for modules that do not exist"


def test_no_module_imports_from_a_layer_above_its_own():
    layer_of, found = table(), modules()
    known = set(found)
    imported = {name: imports(path, known) for name, path in found.items() if name in layer_of}
    assert violations(layer_of, imported) == []


@pytest.mark.parametrize(
    ("imported", "wrong"),
    [
        (
            {"harness.core.events": ["harness.session.session"]},
            "harness.core.events (core) imports harness.session.session",
        ),
        (
            {"harness.session.session": ["pytest"]},
            "harness.session.session imports pytest: "
            "only modules of harness.surfaces.pytest_plugin",
        ),
        (
            {"harness.core.logparse": ["subprocess"]},
            "harness.core.logparse is core and imports subprocess",
        ),
    ],
)
def test_the_rule_catches_what_it_forbids(imported, wrong):
    layer_of = {"harness.core.events": "core", "harness.session.session": "session"}
    layer_of |= {"harness.core.logparse": "core"}
    [said] = violations(layer_of, imported)
    assert said.startswith(wrong)
