"""The wheel must carry every subpackage and data file, or a non-editable install breaks."""
import tomllib
from conftest import ROOT


def test_every_subpackage_is_listed_in_pyproject():
    conf = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    listed = set(conf["packages"])
    found = {".".join(p.parent.relative_to(ROOT).parts) for p in (ROOT / "mgdsl").rglob("__init__.py")}
    assert found <= listed, f"add to [tool.setuptools] packages: {sorted(found - listed)}"
    assert conf["package-dir"]["mgdsl.grammars"] == "grammars"
    assert (ROOT / "grammars" / "mg.lark").exists()


def test_data_files_are_declared():
    data = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["package-data"]
    for pkg, patterns in data.items():
        folder = ROOT / ("grammars" if pkg == "mgdsl.grammars" else pkg.replace(".", "/"))
        for pattern in patterns:
            assert list(folder.glob(pattern)), f"{pkg}: nothing matches {pattern}"
    assert "*.mg" in data["mgdsl.lang"] and "*.lark" in data["mgdsl.grammars"]
