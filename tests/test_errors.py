"""Every kind of user mistake: the right error class, message and position, and never a traceback."""
import pytest

import mgdsl
from mgdsl.errors import (
    ImportCycleError,
    MgError,
    SpecNameError,
    SpecShapeError,
    SpecSyntaxError,
    SpecTypeError,
    SpecValueError,
    UsageError,
)

HEAD = 'network "T" (n = 2, w = 64)\ninput 3 @ 32x32\ngrids 3\nconv w, w/2, w/4\n'

# (spec body after HEAD, error class, line, col, words the message must contain)
CASES = [
    ("mgconv 8w, 4w\n", SpecShapeError, 5, 8, "2 widths given for 3 active grids"),
    ("n × resmg 8w, 4w\n", SpecShapeError, 5, 11, "2 widths given for 3 active grids"),
    ("mgconv kernal=3\n", SpecTypeError, 5, 8, "no parameter 'kernal'"),
    ("conv w, w/3, w/4\n", SpecValueError, 5, 6, "whole number"),
    ("conv 0\n", SpecValueError, 5, 6, "too small"),
    ("conv -8\n", SpecValueError, 5, 6, "too small"),
    ("conv 5000000\n", SpecValueError, 5, 6, "absurdly large"),
    ("conv w relu=maybe\n", SpecTypeError, 5, 13, "on or off"),
    ("pool mode=squash\n", SpecValueError, 5, 11, "merge"),
    ("mgconv on 4x4\n", SpecShapeError, 5, 11, "no 4x4 grid"),
    ("mgconv on coarsest 4\n", SpecShapeError, 5, 11, "coarsest 4 of 3"),
    ("mgconv on 32x32, 8x8\n", SpecShapeError, 5, 1, "neighbouring grids"),
    ("fc 10\n", SpecShapeError, 5, 1, "acts on one grid"),
    ("fc\n", SpecTypeError, 5, 1, "needs classes"),
    ("frobnicate 3\n", SpecNameError, 5, 1, "unknown layer type 'frobnicate'"),
    ("conv wdth\n", SpecNameError, 5, 6, "unknown name 'wdth'"),
    ("conv 2wdth\n", SpecNameError, 5, 6, "unknown name 'wdth'"),
    ("concat e9\n", SpecNameError, 5, 8, "no saved pyramid is called 'e9'"),
    ("x = conv\nx = conv\n", SpecNameError, 6, 1, "already the name"),
    ("pool\npool\npool\npool\n", SpecShapeError, 8, 1, "cannot be pooled"),
    ("pool merge\npool merge\npool merge\n", SpecShapeError, 7, 6, "at least two grids"),
    ("conv w/0\n", SpecValueError, 5, 6, "division by zero"),
    ("100000 × conv\n", SpecValueError, 5, 1, "absurdly large"),
    ("conv w,\n", SpecSyntaxError, 5, 8, "ends too early"),
    ("conv w ) 3\n", SpecSyntaxError, 5, 8, "unexpected ')'"),
    ("conv w $\n", SpecSyntaxError, 5, 8, "unexpected character '$'"),
    ("    conv w\n", SpecSyntaxError, 5, 1, "unexpected indentation"),
    ("conv 64 kernel=2\n", SpecValueError, 5, 16, "even"),
    ("x = conv\nadd x shortcut=pad\nconv 8\nadd x\n", SpecShapeError, 8, 5, "zero-padded shortcut cannot"),
]


@pytest.mark.parametrize("body, cls, line, col, words", CASES, ids=[c[4] for c in CASES])
def test_error_class_message_and_position(spec_file, body, cls, line, col, words):
    path = spec_file(HEAD + body)
    with pytest.raises(MgError) as info:
        mgdsl.load(path)
    e = info.value
    assert type(e) is cls, e.report()
    assert words in e.message, e.report()
    assert (e.span.line, e.span.col) == (line, col), e.report()
    report = e.report()
    assert report.startswith(f"{path}:{line}:{col}: error: ")
    assert "^" in report.splitlines()[2]             # the caret line under the quoted source


def test_report_has_caret_under_the_span_and_a_hint(spec_file):
    path = spec_file(HEAD + "n × resmg 8w, 4w  kernel=3, 3, 1\n")
    with pytest.raises(SpecShapeError) as info:
        mgdsl.load(path)
    lines = info.value.report().splitlines()
    assert lines[1] == "    5 | n × resmg 8w, 4w  kernel=3, 3, 1"
    assert lines[2] == "      |           ^^^^^^"
    assert any(ln.startswith("hint: the pyramid here is 32x32:64, 16x16:32, 8x8:16") for ln in lines)
    assert any("note: in this use of unit 'resmg'" in ln for ln in lines)


def test_header_errors(spec_file):
    with pytest.raises(SpecTypeError, match="has no input"):
        mgdsl.load(spec_file('network "T"\nconv 8\n'))
    with pytest.raises(SpecSyntaxError, match="no `network"):
        mgdsl.load(spec_file('input 3 @ 8x8\n'))
    with pytest.raises(SpecShapeError, match="cannot be halved") as info:
        mgdsl.load(spec_file('network "T"\ninput 3 @ 12x12\ngrids 4\n'))
    assert info.value.span.line == 3
    with pytest.raises(SpecShapeError, match="not 16x8"):
        mgdsl.load(spec_file('network "T"\ninput 3 @ 32x32\ngrids 32x32, 16x8\n'))
    with pytest.raises(SpecShapeError, match="ends with 3 grids"):
        mgdsl.load(spec_file(HEAD))
    with pytest.raises(SpecTypeError, match="no default"):
        mgdsl.load(spec_file('network "T" (n)\ninput 3 @ 8x8\nfc 3\n'))
    with pytest.raises(SpecValueError, match="input size"):
        mgdsl.load(spec_file('network "T"\ninput 3 @ 100000x100000\nfc 3\n'))
    # activations that no machine here holds: a question for build (ResourceError), not for the language
    from mgdsl.errors import ResourceError
    big = mgdsl.load(spec_file('network "T"\ninput 3 @ 60000x60000\nconv 512\nfc 3 pool=avg\n'))
    with pytest.raises(ResourceError, match="one input image needs"):
        big.build()


def test_name_errors_in_definitions(spec_file):
    with pytest.raises(SpecNameError, match="built-in layer type"):
        mgdsl.load(spec_file('unit conv():\n    relu\nnetwork "T"\ninput 3 @ 8x8\nfc 3\n'))
    with pytest.raises(SpecNameError, match="defined twice") as info:
        mgdsl.load(spec_file('unit a():\n    relu\nunit a():\n    relu\nnetwork "T"\ninput 3 @ 8x8\nfc 3\n'))
    assert info.value.span.line == 3
    with pytest.raises(SpecValueError, match="use itself"):
        mgdsl.load(spec_file('unit a():\n    a\nnetwork "T"\ninput 3 @ 8x8\na\nfc 3\n'))
    with pytest.raises(SpecSyntaxError, match="at most one network"):
        mgdsl.load(spec_file('network "A"\ninput 3 @ 8x8\nfc 3\nnetwork "B"\n'))


def test_import_errors(tmp_path):
    (tmp_path / "a.mg").write_text('import "b.mg"\nnetwork "T"\ninput 3 @ 8x8\nfc 3\n')
    (tmp_path / "b.mg").write_text('import "a.mg"\n')
    with pytest.raises(ImportCycleError, match="circle") as info:
        mgdsl.load(tmp_path / "a.mg")
    assert info.value.span.line == 1
    (tmp_path / "c.mg").write_text('import "missing.mg"\n')
    with pytest.raises(SpecNameError, match="no such file: .*missing.mg"):
        mgdsl.load(tmp_path / "c.mg")
    (tmp_path / "d.mg").write_text('network "D" from "e.mg" (n = 3)\n')
    (tmp_path / "e.mg").write_text('network "E" (w = 8)\ninput 3 @ 8x8\nconv w\nfc 3\n')
    with pytest.raises(SpecNameError, match="has no parameter 'n'") as info:
        mgdsl.load(tmp_path / "d.mg")
    assert (info.value.span.line, info.value.span.col) == (1, 26)
    (tmp_path / "f.mg").write_text('network "F" from "e.mg"\nconv 3\n')
    with pytest.raises(SpecSyntaxError, match="no body of its own"):
        mgdsl.load(tmp_path / "f.mg")


def test_files_that_are_not_specs(tmp_path):
    bad = tmp_path / "bin.mg"
    bad.write_bytes(b'network "T"\ninput 3 @ 8x8\n\xff\xfe\n')
    with pytest.raises(SpecSyntaxError, match="not UTF-8") as info:
        mgdsl.load(bad)
    assert info.value.span.line == 3
    with pytest.raises(UsageError, match="no such file"):
        mgdsl.load(tmp_path / "nothere.mg")
    with pytest.raises(UsageError, match="folder"):
        mgdsl.load(tmp_path)
    empty = tmp_path / "empty.mg"
    empty.write_text("")
    with pytest.raises(SpecNameError, match="defines no network"):
        mgdsl.load(empty)
    big = tmp_path / "big.mg"
    big.write_text("# x\n" * 400_000)
    with pytest.raises(SpecSyntaxError, match="limited to"):
        mgdsl.load(big)
    deep = tmp_path / "deep.mg"
    deep.write_text('network "T"\ninput 3 @ 8x8\nconv ' + "(" * 300 + "8" + ")" * 300 + "\nfc 3\n")
    with pytest.raises(SpecSyntaxError, match="nested"):
        mgdsl.load(deep)


def test_unknown_override_is_a_usage_error():
    with pytest.raises(UsageError, match="no parameter 'depth'") as info:
        mgdsl.load("specs/r-pmg-30.mg", depth=3)
    assert "n, w, classes" in info.value.hint


def test_dead_grids_warn_but_load(spec_file):
    net = mgdsl.load(spec_file('network "T"\ninput 3 @ 32x32\ngrids 2\nconv 8\nconv 8\nfc 10 on coarsest\n'))
    (w,) = net.warnings
    assert "never reach the output" in w.message and w.span.line == 4
    assert w.report().startswith(f"{net.path}:4:1: warning: ")
    # dropping the grid on purpose says the same thing explicitly, and silences the warning
    net = mgdsl.load(spec_file('network "T"\ninput 3 @ 32x32\ngrids 2\nconv 8\nconv 8\ndrop\nfc 10\n', "u.mg"))
    assert net.warnings == []


HUGE = HEAD + "conv 300000\nconv 300000\ndrop 2\nfc 10\n"      # ~2.4 TB of float32 weights


@pytest.mark.parametrize("gib", [4, 1024])
def test_check_verdict_does_not_depend_on_this_machines_memory(spec_file, monkeypatch, gib):
    """The language knows no machine: the same spec checks the same with 4 GB or 1 TB of memory."""
    import mgdsl.memory
    monkeypatch.setattr(mgdsl.memory, "memory_limit", lambda: gib << 30)
    path = spec_file(HUGE)
    net = mgdsl.load(path)                       # no error, no warning
    assert net.num_params > (1 << 40) // 4 and not net.warnings
    import argparse

    from mgdsl.commands.check import run
    assert run(argparse.Namespace(specs=[path], set=[], quiet=True, format="text")) == 0


def test_building_a_network_too_big_for_this_machine_is_refused_before_allocating(spec_file, monkeypatch):
    import mgdsl.memory
    from mgdsl.errors import ResourceError
    monkeypatch.setattr(mgdsl.memory, "memory_limit", lambda: 4 << 30)
    net = mgdsl.load(spec_file(HUGE))
    with pytest.raises(ResourceError) as info:
        net.build()
    assert "4.0 GiB" in str(info.value) and "weights" in str(info.value)
    net.build(device="meta")                     # shapes only: nothing to allocate, nothing refused
    small = mgdsl.load(spec_file(HEAD + "drop 2\nfc 10\n"))
    small.build()                                # fits: no error
