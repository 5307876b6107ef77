"""The README stands alone in a fresh clone: its links lead to files in the repository, and its
Dependencies table says why every pinned package is there."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text()


def test_links_lead_to_files_inside_the_repository():
    targets = re.findall(r"\]\(([^)\s]+)\)", README)
    assert targets, "the README links nothing"
    for target in targets:
        if re.match(r"^[a-z]+://", target):
            continue
        path = (ROOT / target.split("#", 1)[0]).resolve()
        assert ROOT in path.parents or path == ROOT, f"{target} leads outside the repository"
        assert path.exists(), f"{target} does not exist"
    assert "DESIGN.md" not in README


def _pinned(name: str) -> list[str]:
    names = []
    for line in (ROOT / name).read_text().splitlines():
        line = line.strip()
        if line and not line.startswith(("#", "-r")):
            names.append(re.split(r"[=<>~!\[ ;]", line)[0])
    return names


def test_every_requirement_has_a_row_in_the_dependencies_table():
    section = README[README.index("## Dependencies") :]
    rows = {
        m[1]: m[2] for m in re.finditer(r"^\| ([A-Za-z0-9_.\-]+) \| `(requirements(?:-dev)?\.txt)` \|", section, re.M)
    }
    for file in ("requirements.txt", "requirements-dev.txt"):
        for name in _pinned(file):
            assert rows.get(name) == file, f"{name} ({file}) has no row in the README's Dependencies table"
    listed = set(_pinned("requirements.txt")) | set(_pinned("requirements-dev.txt"))
    assert set(rows) <= listed, f"rows for packages that are not pinned: {sorted(set(rows) - listed)}"
