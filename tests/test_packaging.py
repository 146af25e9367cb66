"""The wheel must carry every subpackage and data file, or a non-editable install breaks: a wheel
built from this tree, installed into a fresh environment, reproduces the paper's tables from an
empty folder, with nothing of the checkout in reach."""
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import tomllib
from conftest import ROOT

from mgdsl.paper import report

CONF = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]


def _folder(pkg: str) -> Path:
    """Where a package's files live in the repository (package-dir maps some elsewhere)."""
    return ROOT / CONF["package-dir"].get(pkg, pkg.replace(".", "/"))


def test_every_subpackage_is_listed_in_pyproject():
    listed = set(CONF["packages"])
    found = {".".join(p.parent.relative_to(ROOT).parts) for p in (ROOT / "mgdsl").rglob("__init__.py")}
    assert found <= listed, f"add to [tool.setuptools] packages: {sorted(found - listed)}"
    assert CONF["package-dir"] == {"mgdsl.grammars": "grammars", "mgdsl.specs": "specs"}
    assert set(CONF["package-dir"]) <= listed
    assert (ROOT / "grammars" / "mg.lark").exists() and (ROOT / "specs" / "vgg-16.mg").exists()


def test_data_files_are_declared():
    data = CONF["package-data"]
    for pkg, patterns in data.items():
        for pattern in patterns:
            assert list(_folder(pkg).glob(pattern)), f"{pkg}: nothing matches {pattern}"
    assert "*.mg" in data["mgdsl.lang"] and "*.lark" in data["mgdsl.grammars"]
    # every file of a package folder that is not Python source is declared, so the wheel has it
    for pkg in CONF["packages"]:
        folder = _folder(pkg)
        declared = {p for pattern in data.get(pkg, []) for p in folder.glob(pattern)}
        nested = {p for other in CONF["packages"] if other.startswith(pkg + ".") for p in _folder(other).rglob("*")}
        files = {p for p in folder.rglob("*") if p.is_file() and "__pycache__" not in p.parts and p.suffix != ".py"}
        assert files - nested <= declared, f"{pkg}: not in package-data: {sorted(files - nested - declared)}"


def _venv_bin(venv: Path, name: str) -> Path:
    return venv / ("Scripts" if os.name == "nt" else "bin") / name


@pytest.mark.slow(reason="builds and installs a wheel; the package and data listings it depends on are "
                         "checked always")
def test_installed_wheel_reproduces_the_paper_without_the_checkout(tmp_path):
    """Built offline with the setuptools at hand, installed with --no-deps into a fresh environment
    (which sees this one's dependencies), `mgdsl cost --paper` run from an empty folder finds the
    specs inside the installed package and prints what the checkout prints."""
    pytest.importorskip("setuptools", minversion="70.1")       # builds wheels itself, without `wheel`
    src = tmp_path / "src"          # what the wheel is built from; building writes into it
    for folder in ("mgdsl", "grammars", "specs"):
        shutil.copytree(ROOT / folder, src / folder, ignore=shutil.ignore_patterns("__pycache__"))
    for file in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / file, src / file)
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME")}
    env.update(PIP_NO_INDEX="1", PIP_DISABLE_PIP_VERSION_CHECK="1")

    def run(*cmd, cwd=tmp_path):
        r = subprocess.run([str(c) for c in cmd], cwd=cwd, env=env, capture_output=True, text=True, timeout=300)
        assert r.returncode == 0, f"{' '.join(map(str, cmd))}:\n{r.stdout}\n{r.stderr}"
        return r.stdout
    run(sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", tmp_path / "dist", src)
    wheel, = (tmp_path / "dist").glob("mgdsl-*.whl")
    shutil.rmtree(src)
    venv = tmp_path / "venv"
    run(sys.executable, "-m", "venv", "--system-site-packages", venv)
    run(_venv_bin(venv, "python"), "-m", "pip", "install", "-q", "--no-deps", wheel)

    empty = tmp_path / "empty"
    empty.mkdir()
    where = run(_venv_bin(venv, "python"), "-c",
                "import mgdsl, mgdsl.paper as p; print(mgdsl.__file__); print(p.packaged_specs())", cwd=empty)
    module, specs = map(Path, where.split())
    assert venv in module.parents and venv in specs.parents, where
    assert run(_venv_bin(venv, "mgdsl"), "cost", "--paper", cwd=empty) == report("table", ROOT / "specs")
