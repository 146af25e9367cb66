"""The suite's own rules: README's test command skips the slow tests (tests/conftest.py), and CI runs them
after it, so every check runs in CI."""
import re

from conftest import ROOT


def test_ci_runs_readmes_test_command_and_then_the_slow_tests():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert re.search(r"^pip install .*&& python -m pytest -q$", readme, re.M), "README's test command changed"
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    calls = re.findall(r"pytest_part (.*?); rc", ci)
    assert calls == ["-q", "-q --run-slow -m slow"], calls
