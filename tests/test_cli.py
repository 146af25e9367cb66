"""The `mgdsl` command as a user meets it: exit codes, messages, files, and no torch where none is needed."""
import os
import subprocess
import sys

import pytest

from mgdsl.cli import main


def run(*args, **kw):
    return subprocess.run([sys.executable, "-m", "mgdsl", *args], capture_output=True, text=True, **kw)


def test_check_never_imports_torch():
    code = ("import sys\nfrom mgdsl.cli import main\n"
            "import glob\nrc = main(['check', '-q', *sorted(glob.glob('specs/**/*.mg', recursive=True))])\n"
            "print('torch' in sys.modules, rc)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.stdout.split() == ["False", "0"], out.stderr[-2000:]


def test_compile_writes_loadable_source_without_torch(tmp_path):
    code = (f"import sys\nfrom mgdsl.cli import main\nrc = main(['compile', 'specs/pmg-16.mg', '-o', r'{tmp_path}/net.py'])\n"
            "print('torch' in sys.modules, rc)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.stdout.split()[-2:] == ["False", "0"], out.stderr
    import mgdsl
    assert f"{mgdsl.load('specs/pmg-16.mg').num_params:,}" in out.stdout     # the summary's parameter count
    assert (tmp_path / "net.py").read_text().startswith('"""PMG-16')
    assert not [p for p in os.listdir(tmp_path) if p.endswith(".tmp")]


def test_compile_prints_a_summary(capsys):
    assert main(["compile", "specs/r-pmg-30.mg", "--set", "n=1"]) == 0
    out = capsys.readouterr().out
    assert "R-PMG-30" in out and "output  100" in out and "n = 1" in out
    for section in ("s1", "s2", "s3", "s4", "s5", "head"):
        assert f"\n  {section} " in out


def test_user_mistakes_exit_1_with_located_messages(tmp_path, capsys):
    bad = tmp_path / "bad.mg"
    bad.write_text('network "B"\ninput 3 @ 8x8\nconv 8 kernal=3\nfc 2\n')
    assert main(["check", str(bad)]) == 1
    err = capsys.readouterr().err
    assert err.startswith(f"{bad}:3:8: error: conv has no parameter 'kernal'") and "Traceback" not in err
    assert main(["check", "specs/nothere.mg"]) == 1
    assert "no such file: specs/nothere.mg" in capsys.readouterr().err
    assert main(["compile", "specs/pmg-16.mg", "--set", "n"]) == 1
    assert "--set wants NAME=VALUE" in capsys.readouterr().err
    assert main(["compile", "specs/pmg-16.mg", "--set", "depth=3"]) == 1
    assert main(["compile", "specs/pmg-16.mg", "-o", str(tmp_path / "no" / "such" / "dir.py")]) == 1
    assert "does not exist" in capsys.readouterr().err


def test_bad_arguments_and_help():
    assert run("frobnicate").returncode == 2
    out = run("--help")
    assert out.returncode == 0 and "compile" in out.stdout and "check" in out.stdout
    out = run("compile", "--help")
    assert out.returncode == 0 and "--set" in out.stdout


def test_check_reports_every_bad_spec_and_warnings(tmp_path):
    good = tmp_path / "dead.mg"
    good.write_text('network "D"\ninput 3 @ 16x16\ngrids 2\nconv 4\nfc 2 on coarsest\n')
    bad = tmp_path / "bad.mg"
    bad.write_text('network "B"\ninput 3 @ 8x8\nconv 0\nfc 2\n')
    out = run("check", str(good), str(bad))
    assert out.returncode == 1
    assert f"{good}:4:1: warning:" in out.stderr and f"{bad}:3:6: error:" in out.stderr
    assert "1 of 2 specs have errors" in out.stderr


@pytest.mark.parametrize("name, why, better", [
    ("class.py", "class is a Python keyword", "class_net"),
    ("my-net.py", "characters other than letters, digits and _", "my_net"),
    ("3d.py", "starts with a digit", "net_3d"),
    ("net.txt", "does not end in .py", "net"),
])
def test_compile_says_how_to_load_a_file_whose_name_cannot_be_imported(tmp_path, capsys, name, why, better):
    out = tmp_path / name
    assert main(["compile", "specs/pmg-16.mg", "-o", str(out)]) == 0
    said = capsys.readouterr().out
    assert f"wrote {out}: `from" not in said and why in said
    assert f"name the file {better}.py to use `from {better} import build`" in said
    line = next(ln.strip() for ln in said.splitlines() if "runpy.run_path" in ln)
    if name == "class.py":                    # the suggested line really loads it
        pytest.importorskip("torch")
        r = subprocess.run([sys.executable, "-c", line + "\nprint(type(build()).__name__)"], capture_output=True,
                           text=True, cwd=tmp_path)
        assert r.returncode == 0 and r.stdout.strip(), r.stderr[-2000:]


def test_compile_names_the_import_of_a_good_name_and_warns_of_a_shadowing_one(tmp_path, capsys):
    assert main(["compile", "specs/pmg-16.mg", "-o", str(tmp_path / "pmg.py")]) == 0
    assert "`from pmg import build`" in capsys.readouterr().out
    assert main(["compile", "specs/pmg-16.mg", "-o", str(tmp_path / "torch.py")]) == 0
    said = capsys.readouterr().out
    assert "from torch import build" not in said and "hides Python's own torch module" in said


def test_every_commands_help_works_without_torch():
    code = ("import contextlib, io, sys\nfrom mgdsl.cli import COMMANDS, main\nbad = []\n"
            "for name in COMMANDS:\n"
            "    with contextlib.redirect_stdout(io.StringIO()) as out:\n"
            "        main([name, '--help'])\n"
            "    bad += [] if 'usage: mgdsl ' + name in out.getvalue() else [name]\n"
            "print('torch' in sys.modules, bad, len(COMMANDS))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.stdout.split()[:2] == ["False", "[]"], out.stdout + out.stderr[-2000:]


# -- export: the opset range, the opset written, the size of --weights ------------------------------------
TINY = 'network "T"\ninput 3 @ 8x8\nconv 4\nfc 2\n'


def test_export_refuses_an_opset_the_exporter_cannot_write(tmp_path, capsys):
    onnx = pytest.importorskip("onnx")
    spec = tmp_path / "t.mg"
    spec.write_text(TINY)
    newest = onnx.defs.onnx_opset_version()
    for opset in ("10000", str(newest + 1)):
        assert main(["export", str(spec), "-o", str(tmp_path / "t.onnx"), "--opset", opset]) == 1
        err = capsys.readouterr().err
        assert f"ONNX opset {opset} is newer than the installed onnx package knows" in err
        assert f"opsets 17 to {newest}" in err
    assert main(["export", str(spec), "-o", str(tmp_path / "t.pt2"), "--opset", "18"]) == 1
    assert "--opset is for ONNX files" in capsys.readouterr().err
    assert os.listdir(tmp_path) == ["t.mg"]


def test_export_reports_the_opset_the_file_holds(tmp_path, capsys, monkeypatch):
    onnx = pytest.importorskip("onnx")
    pytest.importorskip("onnxscript")
    import torch
    spec = tmp_path / "t.mg"
    spec.write_text(TINY)
    assert main(["export", str(spec), "-o", str(tmp_path / "t.onnx"), "--opset", "21"]) == 0
    assert "as ONNX, opset 21," in capsys.readouterr().out
    assert max(o.version for o in onnx.load(tmp_path / "t.onnx").opset_import if o.domain == "") == 21
    real = torch.onnx.export                 # a converter that gives up silently, as onnxscript's does
    monkeypatch.setattr(torch.onnx, "export", lambda *a, **k: real(*a, **{**k, "opset_version": 18}))
    assert main(["export", str(spec), "-o", str(tmp_path / "u.onnx"), "--opset", "22"]) == 1
    assert "could not convert this network to ONNX opset 22: it gives opset 18" in capsys.readouterr().err
    assert not (tmp_path / "u.onnx").exists()


def test_export_refuses_weights_no_network_of_the_spec_could_have(tmp_path, capsys):
    spec = tmp_path / "t.mg"
    spec.write_text(TINY)
    big = tmp_path / "big.pt"
    with open(big, "wb") as f:
        f.truncate(200 << 20)               # sparse
    assert main(["export", str(spec), "-o", str(tmp_path / "t.pt2"), "--weights", str(big)]) == 1
    assert "holds 200 MiB, more than weights of T (634 parameters) can take" in capsys.readouterr().err
    fifo = tmp_path / "w.pt"
    os.mkfifo(fifo)
    assert main(["export", str(spec), "-o", str(tmp_path / "t.pt2"), "--weights", str(fifo)]) == 1
    assert "not a regular file" in capsys.readouterr().err


def test_attention_refuses_an_image_it_cannot_sensibly_read_before_loading_the_run(tmp_path, capsys):
    from PIL import Image
    huge = tmp_path / "huge.png"
    Image.new("L", (5000, 3000)).save(huge)          # a few KiB on disk, 15 MP once decoded
    fifo = tmp_path / "pipe.png"
    os.mkfifo(fifo)
    for image, said in ((huge, "5000 x 3000 is larger than 4096 x 4096"), (fifo, "not a regular file"),
                        (tmp_path / "none.png", "no such file")):
        assert main(["attention", str(tmp_path / "no-run"), "--image", str(image), "-o", str(tmp_path / "a.png")]) == 1
        assert said in capsys.readouterr().err


@pytest.mark.skipif(sys.platform != "linux", reason="file names that are not UTF-8 need a byte-oriented file system")
@pytest.mark.parametrize("env", [{"PYTHONIOENCODING": "utf-8:strict"}, {"LC_ALL": "C", "LANG": "C"}])
def test_a_file_name_that_is_not_utf8_prints_as_valid_text(tmp_path, env):
    # used to be a traceback (exit 70) in a UTF-8 locale, and raw bytes in the C locale
    name = os.fsdecode(b"net\xff.mg")
    (tmp_path / name).write_text('network "N"\ninput 3 @ 8x8\nconv 4\nfc 2\n', encoding="utf-8")
    for args in (["check"], ["cost"], ["cost", "--format", "md"], ["cost", "--format", "csv"], ["compile"],
                 ["check", "--format", "json"]):
        r = subprocess.run([sys.executable, "-m", "mgdsl", *args, name], cwd=tmp_path, capture_output=True,
                           env={**os.environ, **env})
        assert r.returncode == 0, (args, r.stderr)
        out = r.stdout.decode("utf-8")            # strict: no raw byte, no lone surrogate
        assert "net\\xff.mg" in out or args[-1] == "json" and out.strip() == "[]", (args, out)


@pytest.mark.skipif(sys.platform != "linux", reason="file names that are not UTF-8 need a byte-oriented file system")
def test_export_of_a_spec_and_weights_whose_names_are_not_utf8(tmp_path, capsys, monkeypatch):
    # found by the all-command fuzzer: ONNX's metadata took the file name as it was, and protobuf refused
    # the lone surrogate that stands for the byte: a traceback (exit 70)
    pytest.importorskip("onnx")
    pytest.importorskip("onnxscript")
    import torch

    import mgdsl
    monkeypatch.chdir(tmp_path)
    name = os.fsdecode(b"net\xff.mg")
    (tmp_path / name).write_text('network "N"\ninput 3 @ 8x8\nconv 4\nfc 2\n', encoding="utf-8")
    weights = os.fsdecode(b"w\xfe.pt")
    torch.save(mgdsl.load(name).build().state_dict(), weights)
    for out in ("n.onnx", "n.pt2"):
        assert main(["export", name, "-o", out, "--weights", weights]) == 0, capsys.readouterr().err
        capsys.readouterr()
    import onnx
    meta = {p.key: p.value for p in onnx.load("n.onnx").metadata_props}
    assert meta["spec"] == "net\\xff.mg" and meta["weights"] == "w\\xfe.pt"
