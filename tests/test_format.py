"""`mgdsl fmt`: one canonical layout, idempotent, comments kept, and never a change of meaning: the
formatted spec lowers to the same graph (node ids, attributes, edges) as the original."""
import dataclasses
import glob
import os
import random
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import ROOT
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import mgdsl
from mgdsl.cli import main
from mgdsl.errors import SpecSyntaxError
from mgdsl.lang.format import comments, format_text

SPECS = sorted(glob.glob("specs/**/*.mg", recursive=True)) + ["mgdsl/lang/prelude.mg"]
TEXTS = {p: Path(ROOT / p).read_text(encoding="utf-8") for p in SPECS}
_PIECE = re.compile(r'"[^"\n]*"|#[^\n]*|[^"#]+')


def messy(text: str, rnd: random.Random) -> str:
    """The same spec laid out badly: spaces added and removed around punctuation, `*` for `×`,
    trailing spaces, runs of blank lines, comments moved, each level of indentation (a unit's body, an
    if block in it) 2 or 6 spaces or a tab. Strings and comments are left alone."""
    out = []
    body_indent = rnd.choice(["  ", "\t", "      "])
    for line in text.splitlines():
        depth = max(1, (len(line) - len(line.lstrip(" "))) // 4) if line.startswith((" ", "\t")) else 0
        indent = body_indent * depth if line.strip() else ""
        pieces, code = [], ""
        for m in _PIECE.finditer(line.strip()):
            s = m.group(0)
            if s[0] in '"#':
                pieces.append(code)
                code = ""
                pieces.append(s)
                continue
            code += s
        pieces.append(code)
        done = ""
        for p in pieces:
            if p[:1] in ('"', "#"):
                done += (" " * rnd.randint(1, 6) if p[0] == "#" and done.strip() else "") + p
                continue
            p = re.sub(r"\s*(//|==|!=|<=|>=|[,;=@()\[\]×+/*<>-])\s*", lambda m: " " * rnd.randint(0, 2) + m.group(1) +
                       " " * rnd.randint(0, 2), p)
            p = re.sub(r" +", lambda m: " " * rnd.randint(1, 3), p)
            p = p.replace("×", "*") if rnd.random() < 0.5 else p
            done += p
        out.append(indent + done.strip() + " " * rnd.randint(0, 2))
        if not line.strip():                          # more blank lines where there was one
            out += [" " * rnd.randint(0, 3)] * rnd.randint(0, 2)
    return "\n".join(out) + "\n" * rnd.randint(0, 3)


@pytest.mark.parametrize("path", SPECS)
def test_idempotent_and_comments_kept(path):
    text = TEXTS[path]
    once = format_text(text, path)
    assert format_text(once, path) == once
    assert comments(once) == comments(text)
    assert format_text(messy(text, random.Random(path)), path) == once


def _graph_view(net):
    """Everything in a graph but where things were written: node records, edges, network facts."""
    G = net.graph
    nodes = [dataclasses.replace(r, span=None) for r in G.records()]
    info = dataclasses.replace(G.info, path="", layers=[dataclasses.replace(r, span=None) for r in G.info.layers])
    return nodes, sorted(G.edges()), info


def test_formatting_a_messy_copy_never_changes_a_graph(tmp_path):
    """Lay every spec out badly in a copy of specs/, format the copy with `mgdsl fmt`, and compare
    every network's graph with the original's."""
    copy = tmp_path / "specs"
    shutil.copytree(ROOT / "specs", copy)
    for f in copy.rglob("*.mg"):
        f.write_text(messy(f.read_text(encoding="utf-8"), random.Random(str(f.name))), encoding="utf-8")
    assert main(["fmt", str(copy)]) == 0
    compared = 0
    for path in SPECS[:-1]:
        if "network" not in TEXTS[path]:
            continue
        orig, new = mgdsl.load(path), mgdsl.load(copy / Path(path).relative_to("specs"))
        assert _graph_view(new) == _graph_view(orig), path
        assert (new.num_params, new.macs) == (orig.num_params, orig.macs)
        compared += 1
    assert compared >= 50


def test_the_canonical_layout():
    text = ('network "X"  (n=3,w = 4)   # c1\ninput 3@32x32\n\n\n\n# full\ngrids 3\n'
            'unit foo(a,b=2): # hdr\n  # inside\n  conv a*2 , b kernel = 3,3 on coarsest 2\n'
            '  x=relu;conv 3  # trailing\n\nn*foo 1,2\n( n-1 )*foo [1,2] stride=-2 on 16x16, 8x8   # last\n\n\n')
    assert format_text(text) == (
        'network "X" (n = 3, w = 4)  # c1\n'
        'input 3 @ 32x32\n'
        '\n'
        '# full\n'
        'grids 3\n'
        'unit foo(a, b = 2):  # hdr\n'
        '    # inside\n'
        '    conv a*2, b  kernel=3, 3  on coarsest 2\n'
        '    x = relu; conv 3  # trailing\n'
        '\n'
        'n × foo 1, 2\n'
        '(n - 1) × foo [1, 2] stride=-2 on 16x16, 8x8  # last\n')


def test_bad_specs_are_reported_not_formatted(spec_file, capsys):
    path = spec_file('network "X"\nconv w $\n')
    assert main(["fmt", path]) == 1
    assert f"{path}:2:8: error: unexpected character '$'" in capsys.readouterr().err
    with pytest.raises(SpecSyntaxError, match="inside brackets"):
        format_text('network "X" (n = 2,  # the depth\n  w = 4)\ninput 3 @ 8x8\nfc 2\n')


def test_check_and_diff_write_nothing(spec_file, capsys):
    path = spec_file('network "X"\ninput 3@8x8\nfc 2\n')
    before = Path(path).read_text()
    assert main(["fmt", "--check", path]) == 1
    assert f"would reformat {path}" in capsys.readouterr().err
    assert main(["fmt", "--diff", path]) == 1
    assert "+input 3 @ 8x8" in capsys.readouterr().out
    assert Path(path).read_text() == before
    assert main(["fmt", path]) == 0 and main(["fmt", "--check", path]) == 0
    assert Path(path).read_text() == 'network "X"\ninput 3 @ 8x8\nfc 2\n'


# -- fuzzing: random valid specs in random layouts ----------------------------------------------------------
WORDS = ["w", "n", "k", "e1", "classes", "same", "off"]
atoms = st.one_of(st.integers(0, 99).map(str), st.sampled_from(WORDS), st.sampled_from(["2w", "1.5w", "0.5k"]))
exprs = st.recursive(atoms, lambda e: st.one_of(
    st.tuples(e, st.sampled_from(["+", "-", "*", "/", "//"]), e).map(" ".join),
    e.map(lambda x: f"({x})"), e.map(lambda x: f"-{x}"),
    st.lists(e, min_size=1, max_size=3).map(lambda xs: "[" + ", ".join(xs) + "]")), max_leaves=5)
value_lists = st.lists(exprs, min_size=1, max_size=3).map(", ".join)
selectors = st.one_of(st.sampled_from(["32x32", "16x16", "coarsest", "finest"]),
                      st.integers(1, 3).map(lambda i: f"coarsest {i}"))
calls = st.tuples(st.sampled_from(["conv", "mgconv", "pool", "resmg", "foo", "fc"]),
                  st.one_of(st.just(""), value_lists),
                  st.lists(st.tuples(st.sampled_from(["kernel", "relu", "stride", "mode"]), value_lists)
                           .map(lambda kv: f"{kv[0]}={kv[1]}"), max_size=2).map(" ".join),
                  st.one_of(st.just(""), st.lists(selectors, min_size=1, max_size=2).map(lambda s: "on " + ", ".join(s))),
                  ).map(lambda t: " ".join(p for p in t if p))
steps = st.tuples(st.one_of(st.just(""), st.sampled_from(["n × ", "3 * ", "(n - 1) × ", "0 × "])), calls).map("".join)
comment = st.one_of(st.just(""), st.sampled_from(["  # a note", "   #x", "#  two  spaces ", "  # × and \"q\""]))
lines = st.tuples(st.one_of(st.just(""), st.sampled_from(["e1 = ", "skip = "])),
                  st.lists(steps, min_size=1, max_size=3).map("; ".join), comment).map("".join)
units = st.tuples(st.sampled_from(["foo", "bar"]), st.lists(st.sampled_from(["a", "b = 2", "c = same"]), max_size=3,
                                                            unique=True).map(", ".join),
                  st.lists(lines, min_size=1, max_size=3)).map(
    lambda t: f"unit {t[0]}({t[1]}):\n" + "".join(f"    {ln}\n" for ln in t[2]))
specs = st.tuples(st.lists(st.sampled_from(["# header comment", "", 'import "lib.mg"']), max_size=3),
                  st.lists(units, max_size=2),
                  st.lists(st.one_of(lines, st.just(""), st.just("# between"), st.just("section s2")), max_size=8),
                  ).map(lambda t: "\n".join(t[0]) + "\n" + "".join(t[1]) +
                        'network "F" (n = 2, w = 8)\ninput 3 @ 32x32\ngrids 32x32, 16x16\n' + "\n".join(t[2]) + "\n")


@settings(max_examples=int(os.environ.get("MGDSL_FUZZ_EXAMPLES", "100")), deadline=None,
          suppress_health_check=[HealthCheck.too_slow])
@given(specs, st.randoms(use_true_random=False))
def test_fuzzed_valid_specs(text, rnd):
    once = format_text(text)            # raises if the formatted text ever parsed to other tokens
    assert format_text(once) == once
    assert format_text(messy(text, rnd)) == once
    assert comments(once) == comments(text)
def test_specs_folder_is_formatted():
    """What CI checks with `mgdsl fmt --check specs`."""
    assert main(["fmt", "--check", "specs", "mgdsl/lang/prelude.mg"]) == 0




# -- what fmt reads: byte-order marks, old line endings, huge files, pipes --------------------------------
MESSY = 'network "X"\ninput 3@8x8   # in\nconv 4\nfc 2\n'
TIDY = 'network "X"\ninput 3 @ 8x8  # in\nconv 4\nfc 2\n'


@pytest.mark.parametrize("name, before, after", [
    ("byte-order mark", "\ufeff" + MESSY, "\ufeff" + TIDY),
    ("CR LF", MESSY.replace("\n", "\r\n"), TIDY.replace("\n", "\r\n")),
    ("CR only (old Mac)", MESSY.replace("\n", "\r"), TIDY),
    ("a lone CR in an LF file", MESSY.replace("\nconv", "\rconv"), TIDY),
    ("mixed, CR LF first", MESSY.replace("\n", "\r\n", 1), TIDY.replace("\n", "\r\n")),
    ("byte-order mark and CR LF", "\ufeff" + MESSY.replace("\n", "\r\n"), "\ufeff" + TIDY.replace("\n", "\r\n")),
])
def test_fmt_reads_what_check_reads(tmp_path, capsys, name, before, after):
    """A byte-order mark and CR LF line endings are kept as the file has them (as black does); CR-only
    and lone CRs, which no editor keeps on purpose, become LF; a file mixing endings takes its first
    line's. The tokens and the network never change."""
    p = tmp_path / "t.mg"
    p.write_bytes(before.encode("utf-8"))
    assert main(["check", str(p)]) == 0
    assert main(["fmt", str(p)]) == 0, capsys.readouterr().err
    assert p.read_bytes() == after.encode("utf-8")
    assert main(["fmt", "--check", str(p)]) == 0                # formatted once is formatted
    assert _graph_view(mgdsl.load(p)) == _graph_view(mgdsl.loads(TIDY, str(p)))
    assert format_text(before) == TIDY                           # the layout itself is always LF


def test_fmt_of_standard_input_keeps_a_byte_order_mark_and_crlf():
    before = ("\ufeff" + MESSY.replace("\n", "\r\n")).encode("utf-8")
    r = subprocess.run([sys.executable, "-m", "mgdsl", "fmt", "-"], input=before, capture_output=True, cwd=ROOT)
    assert r.returncode == 0 and r.stdout == ("\ufeff" + TIDY.replace("\n", "\r\n")).encode("utf-8"), r.stderr


def test_fmt_refuses_a_huge_file_without_reading_it_all(tmp_path, monkeypatch, capsys):
    big = tmp_path / "big.mg"
    with open(big, "wb") as f:
        f.truncate(2 << 30)                   # 2 GiB (sparse)
    real, seen = os.read, []

    def read(fd, n):
        data = real(fd, n)
        seen.append(len(data))
        return data
    monkeypatch.setattr(os, "read", read)
    assert main(["fmt", str(big)]) == 1
    assert "larger than 1024 KiB" in capsys.readouterr().err
    assert sum(seen) < 2 << 20


def test_fmt_refuses_endless_standard_input():
    """`yes | mgdsl fmt -`: refused once past the size limit, without waiting for the input to end
    (here it never ends: the pipe stays open)."""
    proc = subprocess.Popen([sys.executable, "-m", "mgdsl", "fmt", "-"], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=ROOT)

    def feed():
        try:
            for _ in range(64):
                proc.stdin.write(b"conv 8\n" * 10_000)
                proc.stdin.flush()
        except (BrokenPipeError, ValueError):
            pass
    import threading
    threading.Thread(target=feed, daemon=True).start()
    try:
        rc = proc.wait(60)
    except subprocess.TimeoutExpired:
        proc.kill()
        pytest.fail("mgdsl fmt - waited for the end of an endless input")
    assert rc == 1 and b"larger than 1024 KiB" in proc.stderr.read()


def test_fmt_refuses_a_named_pipe_without_waiting(tmp_path, capsys):
    fifo = tmp_path / "pipe.mg"
    os.mkfifo(fifo)
    assert main(["fmt", str(fifo)]) == 1
    assert "not a regular file" in capsys.readouterr().err
