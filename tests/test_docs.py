"""The docs a maintainer needs are in the repository, and the code's citations resolve there.

`facts B3` in a comment means the heading `### B3` of docs/facts.md; the virtual iPhone writes
the bare id (`B3:`) and says so in its docstring. Nothing points outside the repository.
"""

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
FACTS = ROOT / "docs" / "facts.md"
ID = r"[ABGS]\d{1,2}"
# `facts A2`, `facts A1, A7`, `facts A10, B1; S12-S14`, `facts B3 and B7`, `facts B1/B2`
CITATION = re.compile(rf"\bfacts ({ID}(?:(?:\s*(?:,|;|/|-|and)\s*){ID})*)")
SOURCES = [
    p
    for folder in ("harness", "suites", "tests")
    for p in sorted((ROOT / folder).rglob("*"))
    if p.suffix in (".py", ".swift") and "data" not in p.relative_to(ROOT).parts
]


def headings() -> set[str]:
    return set(re.findall(rf"^### ({ID})$", FACTS.read_text(), re.MULTILINE))


def citations(text: str) -> list[str]:
    return [one for group in CITATION.findall(text) for one in re.findall(ID, group)]


def test_the_citation_pattern_reads_every_form_the_code_uses():
    text = "(facts A1, A7) (facts A10, B1; S12-S14) (facts B3 and B7) facts B1/B2: x"
    assert citations(text) == ["A1", "A7", "A10", "B1", "S12", "S14", "B3", "B7", "B1", "B2"]


def test_facts_has_a_heading_for_every_fact_of_the_research():
    expected = {f"A{n}" for n in range(1, 11)} | {f"B{n}" for n in range(1, 10)}
    expected |= {f"G{n}" for n in range(1, 11)} | {f"S{n}" for n in range(1, 26)}
    assert headings() == expected


@pytest.mark.parametrize("path", SOURCES, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_facts_citation_resolves_to_a_heading(path):
    known = headings()
    text = path.read_text()
    cited = citations(text)
    if path.name == "virtual.py":  # its comments cite bare ids: `# B1: ...`, `(A2/A3)`
        cited += re.findall(rf"(?<![\w.]){ID}(?![\w.])", text)
    missing = sorted(set(cited) - known)
    assert not missing, f"{path.relative_to(ROOT)} cites {missing}, not headings of docs/facts.md"


def test_nothing_points_outside_the_repository():
    """`grep -rn "bg-facts\\|DESIGN.md" harness` finds nothing (the research and the design
    notes the code was written from live outside the repository; docs/ holds what we need)."""
    outside = re.compile(r"bg-facts|DESIGN\.md|\.\./shared|shared/research")
    found = [
        f"{path.relative_to(ROOT)}:{n}"
        for path in [*SOURCES, ROOT / "README.md"]
        for n, line in enumerate(path.read_text().splitlines(), 1)
        if outside.search(line) and path.name != "test_docs.py"
    ]
    assert found == []


def test_the_maintainer_docs_exist_and_link_each_other():
    for name in ("architecture.md", "facts.md", "howto.md"):
        assert (ROOT / "docs" / name).is_file(), name
    readme = (ROOT / "README.md").read_text()
    assert "docs/architecture.md" in readme and "make lint" in readme
