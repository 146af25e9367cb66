"""The repository stands alone: no tracked file points at material a user's clone does not have
(the maintainers' private notes or a folder beside the checkout). The paper is cited by its own
sections, tables and figures; its printed numbers ship in mgdsl/paper/paper_tables.csv."""
from __future__ import annotations

import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

# Split so that this file does not match itself.
OUTSIDE = [s.encode() for s in ("../" + "shared", "/work/" + "shared", "PAPER" + ".md")]


def tracked_files() -> list[Path]:
    out = subprocess.run(["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, check=True).stdout
    return [ROOT / name for name in out.decode().split("\0") if name]


def test_no_tracked_file_points_outside_the_repository():
    files = tracked_files()
    assert len(files) > 50, "git ls-files listed too few files"
    hits = [f"{path.relative_to(ROOT)}:{number}: {line.decode(errors='replace').strip()}"
            for path in files if path.is_file()
            for number, line in enumerate(path.read_bytes().splitlines(), 1)
            if any(s in line for s in OUTSIDE)]
    assert not hits, "cite the paper's own section/table/figure instead:\n" + "\n".join(hits)
