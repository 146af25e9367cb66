import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def spec_file(tmp_path):
    """Write spec text to a file and return its path."""
    def write(text: str, name: str = "t.mg") -> str:
        p = tmp_path / name
        p.write_text(text, encoding="utf-8")
        return str(p)
    return write


@pytest.fixture(autouse=True)
def _repo_cwd(monkeypatch):
    monkeypatch.chdir(ROOT)
    os.environ.setdefault("OMP_NUM_THREADS", "2")


def pytest_addoption(parser):
    parser.addoption("--run-slow", action="store_true",
                     help="also run the tests marked slow (CI runs a shorter version of each)")


def pytest_configure(config):
    config.addinivalue_line("markers", "slow: a long version of a check whose short version always runs; "
                                       "run it with --run-slow or MGDSL_SLOW=1")


def pytest_collection_modifyitems(config, items):
    if config.getoption("--run-slow") or os.environ.get("MGDSL_SLOW") == "1":
        return
    skip = pytest.mark.skip(reason="slow: run with --run-slow (a shorter version of it runs always)")
    for item in items:
        if "slow" in item.keywords:
            item.add_marker(skip)
