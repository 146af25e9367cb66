"""Fuzzing the front end: whatever the input, mgdsl either returns a checked network or raises
its own error type with a printable report. Anything else escaping is a bug."""
import glob
import os
import sys
import tempfile
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import mgdsl
from mgdsl.errors import MgError

TOKENS = ['network', '"N"', 'input', '3', '@', '32x32', '8x8', 'grids', 'conv', 'mgconv', 'pool', 'merge', 'drop',
          'fc', 'maps', 'on', 'coarsest', 'finest', '×', '*', '=', ',', ';', '(', ')', '[', ']', 'w', 'n', '8w', 'w/2',
          '\n', '\n    ', 'unit', ':', 'import', '"nope.mg"', 'from', 'res', 'resmg', 'relu=off', 'kernel=1', '-',
          '/', '//', 'concat', 'add', 'in', 'e1', '# c', 'section', '0', '100000', '1.5', 'upconv', 'upsample',
          'shortcut=proj', 'stride=2', '"', '\t', 'x', '\\\n', 'classes']
SEEDS = [open(p, encoding="utf-8").read() for p in sorted(glob.glob("specs/families/*.mg"))] or ['network "N"\n']
FUZZ = settings(max_examples=int(os.environ.get("MGDSL_FUZZ_EXAMPLES", "150")), deadline=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])


def only_our_errors(text: str):
    try:
        mgdsl.loads(text, "fuzz.mg")
    except MgError as e:
        assert e.report()          # the report itself must never fail


@FUZZ
@given(st.lists(st.sampled_from(TOKENS), max_size=60).map(" ".join))
def test_token_soup(text):
    only_our_errors(text)


@FUZZ
@given(st.text(max_size=300))
def test_arbitrary_text(text):
    only_our_errors(text)


def _fuzzer():
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tools"))
    try:
        import fuzz_specs
    finally:
        sys.path.pop(0)
    return fuzz_specs


def test_mutated_specs_give_valid_networks_or_located_errors(tmp_path):
    """A small budget of tools/fuzz_specs.py (the same mutations as its long runs): every mutant of
    every spec checks, or fails with an error on a line the mutation changed or feeds; none gives a
    traceback, a hang, memory exhaustion or an error somewhere unrelated."""
    fz = _fuzzer()
    stats = fz.run(budget=int(os.environ.get("MGDSL_FUZZ_MUTANTS", "300")), seed=20261203, jobs=2,
                   out=str(tmp_path), progress=False)
    assert stats.outcomes["bad"] == 0, fz.summary(stats, 0)
    assert stats.outcomes["located"] > stats.outcomes["explained"]


def test_the_fuzzer_tells_bad_outcomes_from_good_ones():
    fz = _fuzzer()
    text = 'network "T"\ninput 3 @ 8x8\nconv 0\nfc 2\n'
    m = fz.Mutant(0, "t.mg", ["number"], text, {3}, False)
    err = "specs/t.mg:{}:6: error: widths 0 is too small\n{:>5} | {}\n      |      ^\n"
    assert fz.classify(m, {"rc": 1, "err": err.format(3, 3, "conv 0")}, None, Path("."))[0] == "located"
    assert fz.classify(m, {"rc": 1, "err": err.format(4, 4, "fc 2")}, None, Path("."))[0] == "explained"
    assert fz.classify(m, {"rc": 1, "err": err.format(2, 2, "input 3 @ 8x8")}, None, Path("."))[0] == "bad"
    assert fz.classify(m, {"rc": 1, "err": err.format(3, 3, "conv 1")}, None, Path("."))[0] == "bad"   # misquoted
    assert fz.classify(m, {"rc": 70, "err": "Traceback ..."}, None, Path("."))[0] == "bad"
    assert fz.classify(m, {"rc": 0, "err": ""}, None, Path("."))[0] == "valid"
    unit = 'unit u():\n    conv 0\n    pool\nnetwork "T"\ninput 3 @ 8x8\nu\n'       # line 3 feeds line 2 next time
    um = fz.Mutant(0, "t.mg", ["name"], unit, {3}, False)
    assert fz.classify(um, {"rc": 1, "err": err.format(2, 2, "    conv 0")}, None, Path("."))[0] == "explained"
    um = fz.Mutant(0, "t.mg", ["name"], unit, {5}, False)
    assert fz.classify(um, {"rc": 1, "err": err.format(2, 2, "    conv 0")}, None, Path("."))[0] == "bad"
    same = fz.Mutant(0, "t.mg", ["line-endings"], text.replace("\n", "\r"), set(), True)
    assert fz.classify(same, {"rc": 1, "err": err.format(3, 3, "conv 0")}, {"rc": 0}, Path("."))[0] == "bad"


def test_every_mutation_class_makes_mutants():
    fz = _fuzzer()
    texts = fz.seeds()
    kinds = {k for i in range(400) for k in fz.make_mutant(texts, sorted(texts), 7, i).kinds}
    assert kinds == set(fz.MUTATIONS)


@FUZZ
@given(st.binary(max_size=400))
def test_bytes_that_may_not_be_utf8(data):
    with tempfile.TemporaryDirectory() as d:
        path = os.path.join(d, "b.mg")
        with open(path, "wb") as f:
            f.write(data)
        try:
            mgdsl.load(path)
        except MgError as e:
            assert e.report()


@settings(max_examples=20, deadline=None)
@given(st.integers(1, 3000), st.sampled_from(["(", "[", "-", "+1", "\n    "]))
def test_deep_nesting_and_long_chains(depth, piece):
    body = {"(": "(" * depth + "8" + ")" * depth, "[": "[" * depth + "8" + "]" * depth,
            "-": "-" * depth + "8", "+1": "8" + "+1" * depth, "\n    ": "8" + "\n    " * depth}[piece]
    only_our_errors(f'network "N"\ninput 3 @ 8x8\nconv {body}\nfc 2\n')


def test_empty_and_huge_files():
    only_our_errors("")
    only_our_errors("\n" * 100_000)
    only_our_errors('network "N"\ninput 3 @ 8x8\n' + "conv 4\n" * 60_000 + "fc 2\n")
    only_our_errors("#" * 2_000_000)
