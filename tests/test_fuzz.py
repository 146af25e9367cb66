"""Fuzzing the front end: whatever the input, mgdsl either returns a checked network or raises
its own error type with a printable report. Anything else escaping is a bug."""
import glob
import os
import tempfile

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


@st.composite
def mutated_spec(draw):
    text = draw(st.sampled_from(SEEDS))
    for _ in range(draw(st.integers(1, 4))):
        i = draw(st.integers(0, len(text)))
        j = min(len(text), i + draw(st.integers(0, 12)))
        kind = draw(st.sampled_from(["delete", "insert", "replace", "duplicate"]))
        if kind == "delete":
            text = text[:i] + text[j:]
        elif kind == "insert":
            text = text[:i] + draw(st.sampled_from(TOKENS)) + text[i:]
        elif kind == "replace":
            text = text[:i] + draw(st.sampled_from(TOKENS)) + text[j:]
        else:
            text = text[:j] + text[i:j] + text[j:]
    return text


@FUZZ
@given(mutated_spec())
def test_mutated_paper_specs(text):
    only_our_errors(text)


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
