"""The suite's own rules: README's test command skips the slow tests (tests/conftest.py), and CI runs them
after it, so every check runs in CI."""
import re

from conftest import ROOT


def test_ci_runs_readmes_test_command_and_then_the_slow_tests():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    found = re.search(r"^pip install .*&& python -m pytest (.*)$", readme, re.M)
    assert found, "README's test command changed"
    args = found.group(1)
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    calls = re.findall(r"pytest_part (.*?); rc", ci)
    assert calls == [args, f"{args} --run-slow -m slow"], calls
