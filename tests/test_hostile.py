"""Hostile specs: each class of bad outcome found by mutating the project's own specs (issue 13) gets
a clear, located error, a warning, or a correct result; never a traceback, a hang or a silent
misreading. Every case here failed before the fix it tests."""
import os
import threading

import pytest
from conftest import at

import mgdsl
from mgdsl.cli import main
from mgdsl.errors import MgError, SpecNameError, SpecSyntaxError, SpecTypeError, SpecValueError

NET = 'network "T" (w = 8)\ninput 3 @ 32x32\n'


def error(spec_file, text, cls=MgError, name="t.mg"):
    path = spec_file(text, name)
    with pytest.raises(MgError) as info:
        mgdsl.load(path)
    e = info.value
    assert isinstance(e, cls), e.report()
    assert e.report()
    return e


# -- inputs that used to escape as tracebacks (exit 70) ----------------------------------------------
@pytest.mark.parametrize("literal", ["9" * 5000, "9" * 400 + ".5", "7" * 60 + "w"])
def test_number_literals_too_long_to_mean_anything(spec_file, literal):
    e = at(error(spec_file, NET + f"conv {literal}\nfc 2\n", SpecValueError), 3, 6)
    assert "limited to" in e.message


def test_a_repeat_count_of_400_digits(spec_file):
    at(error(spec_file, NET + "9" * 400 + " × conv\nfc 2\n", SpecValueError), 3, 1)


def test_a_grid_size_of_many_digits(spec_file):
    at(error(spec_file, NET + "conv on " + "3" * 5000 + "x3\nfc 2\n", SpecValueError), 3, 9)


def test_upsampling_past_any_grid_size(spec_file):
    e = at(error(spec_file, NET + "90 × upsample factor=64\nfc 2\n", SpecValueError), 3)
    assert "limited to" in e.message


def test_a_section_whose_name_meets_a_unit_path(spec_file):
    # unit b in section a is a.b1, which a section called "a.b1" would also have been
    text = 'unit b():\n    conv\n' + NET + 'section a\nb\nsection "a.b1"\nconv 8\nfc 2\n'
    at(error(spec_file, text, SpecNameError), 7, 9)


def test_a_unit_whose_name_meets_a_numbered_layer(spec_file):
    # unit conv1's first use is conv11, as the eleventh conv is
    text = "unit conv1():\n    relu\n" + NET + "conv1\n" + "conv 8\n" * 11 + "fc 2\n"
    e = at(error(spec_file, text, SpecNameError), 16, 1)
    assert "conv11" in e.message and e.notes and e.notes[0][1].line == 5


def test_compile_to_an_existing_folder_is_a_usage_error(tmp_path, capsys):
    assert main(["compile", "specs/vgg-6.mg", "-o", str(tmp_path)]) == 1
    assert "is a folder" in capsys.readouterr().err


# -- limits on work -----------------------------------------------------------------------------------
def test_repeats_of_units_that_make_no_op_are_counted(spec_file):
    text = ("unit c():\n    0 × conv\nunit b():\n    100 × c\nunit a():\n    100 × b\n" + NET +
            "100 × a\nfc 2\n")
    e = error(spec_file, text, SpecValueError)
    assert "calls" in e.message and e.span.line in (4, 6)
    assert e.notes[-1][1].line == 9                     # the chain of unit uses that got there


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no named pipes here")
def test_importing_a_named_pipe_is_refused_without_waiting(tmp_path):
    os.mkfifo(tmp_path / "pipe.mg")
    (tmp_path / "t.mg").write_text('import "pipe.mg"\n' + NET + "fc 2\n")
    outcome = []

    def check():
        try:
            mgdsl.load(tmp_path / "t.mg")
        except MgError as e:
            outcome.append(e)
    t = threading.Thread(target=check, daemon=True)
    t.start()
    t.join(60)
    if t.is_alive():                         # unblock the reader before failing
        os.close(os.open(tmp_path / "pipe.mg", os.O_WRONLY | os.O_NONBLOCK))
        pytest.fail("mgdsl waited on the named pipe")
    (e,) = outcome
    assert "not a regular file" in e.message and e.span.line == 1, e.report()


def test_a_huge_import_is_refused_at_the_import_line_without_reading_it_all(tmp_path, monkeypatch):
    big = tmp_path / "big.mg"
    with open(big, "wb") as f:
        f.truncate(64 << 20)                  # 64 MiB (sparse)
    (tmp_path / "t.mg").write_text(NET + 'import "big.mg"\nfc 2\n')
    real, seen = os.read, []

    def read(fd, n):
        data = real(fd, n)
        seen.append(len(data))
        return data
    monkeypatch.setattr(os, "read", read)
    with pytest.raises(SpecSyntaxError) as info:
        mgdsl.load(tmp_path / "t.mg")
    assert info.value.span.path.endswith("t.mg") and info.value.span.line == 3, info.value.report()
    assert sum(seen) < 2 << 20


def test_the_dead_code_warning_passes_over_the_graph_a_fixed_number_of_times():
    from mgdsl.graph.check import dead_code
    net = mgdsl.loads(NET + "grids 2\n" + "conv 8\n" * 100 + "drop\nfc 2\n")
    G = net.graph
    G.info.discarded = set()                 # now the 16x16 grid's 200 ops are dead
    walks = []

    class Counting(type(G.nodes)):
        def __iter__(self):
            walks.append(1)
            return super().__iter__()

    class Graph(type(G)):
        @property
        def nodes(self):
            return Counting(self)
    G.__class__ = Graph
    (w,) = dead_code(G)
    assert "never reach" in w.message
    assert len(walks) < 10


# -- errors at the line that must change, quoting that line ------------------------------------------
def test_too_deep_brackets_are_reported_where_they_go_too_deep(spec_file):
    e = at(error(spec_file, NET + "conv 8\n\nconv " + "(" * 80 + "8" + ")" * 80 + "\nfc 2\n", SpecSyntaxError), 5)
    assert e.span.col == 5 + 65


def test_brackets_in_comments_and_strings_do_not_count(spec_file):
    net = mgdsl.load(spec_file(NET + "# " + "(" * 100 + "\nconv 8   # " + "[" * 70 + "\nfc 2\n"))
    assert net.output_shape == (2,)


def test_long_expression_chains_are_reported_on_their_line(spec_file):
    for body in ("-" * 500 + "8", "8" + "+1" * 3000):
        at(error(spec_file, NET + "conv 8\n\nconv " + body + "\nfc 2\n", SpecSyntaxError), 5)


def test_a_dedent_that_matches_no_block_is_reported_on_its_line(spec_file):
    text = "unit u():\n        conv\n        conv\n    conv\n" + NET + "u\nfc 2\n"
    e = at(error(spec_file, text, SpecSyntaxError), 4, 1)
    assert e.report().splitlines()[1].endswith("|     conv")


@pytest.mark.parametrize("sep", ["\x0c", "\u2028", "\x0b", "\x1c", "\x85"])
def test_the_quoted_line_is_the_line_the_grammar_counted(spec_file, sep):
    text = NET + f"# a{sep} b\nconv 0\nfc 2\n"
    e = at(error(spec_file, text, SpecValueError), 4, 6)
    assert e.report().splitlines()[1].endswith("| conv 0"), e.report()


# -- messages that misled -----------------------------------------------------------------------------
def test_a_parameter_shadowing_a_saved_pyramid(spec_file):
    text = 'network "T" (e1 = 3)\ninput 3 @ 32x32\ne1 = conv 8\nconv 8\nconcat e1\nfc 2\n'
    e = at(error(spec_file, text, SpecNameError), 3, 1)
    assert "parameter" in e.message


@pytest.mark.parametrize("ending", ["\r", "\r\n"])
def test_old_mac_and_windows_line_endings(tmp_path, ending):
    p = tmp_path / "t.mg"
    p.write_bytes((NET + "conv 8\nfc 2\n").replace("\n", ending).encode())
    assert mgdsl.load(p).output_shape == (2,)
    p.write_bytes((NET + "conv 0\nfc 2\n").replace("\n", ending).encode())
    with pytest.raises(SpecValueError) as info:
        mgdsl.load(p)
    assert (info.value.span.line, info.value.span.col) == (3, 6)
    assert info.value.report().splitlines()[1].endswith("| conv 0")


def test_a_byte_order_mark_is_not_an_unexpected_character(tmp_path):
    p = tmp_path / "t.mg"
    p.write_bytes(b"\xef\xbb\xbf" + (NET + "conv 8\nfc 2\n").encode())
    assert mgdsl.load(p).output_shape == (2,)


def test_layer_names_of_other_frameworks_are_not_typos_of_ours(spec_file):
    from mgdsl.graph.layer_api import LAYERS
    from mgdsl.graph.lower import FOREIGN
    word = "batchnorm"
    e = error(spec_file, NET + f"conv 8\n{word} 3\nfc 2\n", SpecNameError)
    assert "did you mean" not in e.report() and e.hint == FOREIGN[word]
    assert not set(FOREIGN) & set(LAYERS), "a hint for a word that is a layer type of ours"


# -- nonsense that was accepted silently --------------------------------------------------------------
@pytest.mark.parametrize("count", ["2.5", "0.5", "1.0001"])
def test_fractional_repeat_counts(spec_file, count):
    at(error(spec_file, NET + f"{count} × conv 8\nfc 2\n", SpecValueError), 3, 1)


def test_whole_repeat_counts_written_with_a_point_still_count(spec_file):
    assert len(mgdsl.load(spec_file(NET + "2.0 × conv 8\nfc 2\n")).graph.info.layers) == 3


def test_a_network_parameter_declared_twice(spec_file):
    at(error(spec_file, 'network "T" (n = 2, w = 4, n = 3)\ninput 3 @ 32x32\nfc 2\n', SpecNameError), 1, 28)


def test_a_unit_parameter_declared_twice(spec_file):
    at(error(spec_file, "unit u(a, b, a=2):\n    conv\n" + NET + "u 1, 2\nfc 2\n", SpecNameError), 1, 14)


@pytest.mark.parametrize("value", ["banana", "avg"])
def test_fc_pool_on_a_flat_vector(spec_file, value):
    at(error(spec_file, NET + f"fc 10\nfc 5 pool={value}\n", SpecValueError), 4, 11)


def test_a_drop_count_together_with_on(spec_file):
    at(error(spec_file, NET + "grids 3\ndrop 5 on coarsest\nfc 2\n", SpecTypeError), 4, 6)


@pytest.mark.parametrize("word", ["off", "On", "same", "merge", "avg", "proj"])
def test_parameters_named_like_value_words(spec_file, word):
    e = at(error(spec_file, f'network "T" ({word} = 1)\ninput 3 @ 32x32\nconv 8 bias=off\nfc 2\n', SpecNameError), 1, 14)
    assert "cannot be called" in e.message
    at(error(spec_file, f"unit u({word}):\n    conv\n" + NET + "u 1\nfc 2\n", SpecNameError), 1, 8)


def test_every_word_value_of_a_layer_is_reserved():
    from mgdsl.graph.layer_api import LAYERS, REQUIRED, value_words
    VALUE_WORDS = value_words()
    from mgdsl.graph.values import Sym
    for t in LAYERS.values():
        for p in t.params:
            if isinstance(p.default, Sym) and p.default is not REQUIRED:
                assert p.default in p.choices, f"{t.name} {p.name}: its default is not one of its choices"
            assert {c.lower() for c in p.choices} <= VALUE_WORDS
    assert {"merge", "avg", "proj", "bilinear", "sum", "silu"} <= VALUE_WORDS


def test_a_network_without_a_head_is_warned_about(spec_file):
    (w,) = mgdsl.load(spec_file(NET + "conv 8\nconv 8\n")).warnings
    assert "without a head" in w.message and w.span.line == 4
    (w,) = mgdsl.load(spec_file(NET)).warnings
    assert "input image" in w.message
    assert mgdsl.load(spec_file(NET + "conv 8\nconv 4 relu=off\n")).warnings == []     # logit maps


# -- names that reach generated Python ----------------------------------------------------------------
@pytest.mark.parametrize("name", ["train", "forward", "training", "state_dict", "to", "input", "_x", "a..b", "a.b",
                                  "a b", "2.5", "\"é\""])
def test_section_names_that_cannot_name_a_module(spec_file, name):
    sec = name if name.isidentifier() or name.replace(".", "").isdigit() or name[0] == '"' else f'"{name}"'
    at(error(spec_file, NET + f"section {sec}\nconv 8\nfc 2\n", SpecNameError), 3, 9)


def test_section_names_cover_every_torch_module_attribute():
    torch = pytest.importorskip("torch")
    from mgdsl.lang.parser import MODULE_ATTRIBUTES
    attrs = {a for obj in (torch.nn.Module(), torch.nn.ModuleDict()) for a in dir(obj)
             if a.isidentifier() and not a.startswith("_")}
    assert attrs <= MODULE_ATTRIBUTES, sorted(attrs - MODULE_ATTRIBUTES)


def test_plain_section_names_still_build(spec_file):
    torch = pytest.importorskip("torch")
    net = mgdsl.load(spec_file(NET + "section stem\nconv 8\nsection 2\nconv 8\nsection head\nfc 2\n"))
    assert net.build()(torch.zeros(1, 3, 32, 32)).shape == (1, 2)


@pytest.mark.parametrize("name", ["R-PMG\\N", "a\\x", "a\\u12"])
def test_network_names_with_backslashes_give_valid_python(spec_file, name):
    pytest.importorskip("torch")
    net = mgdsl.load(spec_file(f'network "{name}"\ninput 3 @ 8x8\nconv 4\nfc 2\n'))
    compile(net.python_source(), "net.py", "exec")


def test_network_names_that_cannot_be_printed(spec_file):
    at(error(spec_file, 'network "a\tb"\ninput 3 @ 8x8\nfc 2\n', SpecNameError), 1, 1)
    at(error(spec_file, 'network ""\ninput 3 @ 8x8\nfc 2\n', SpecNameError), 1, 1)
