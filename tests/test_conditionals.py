"""The language's control constructs: `if`/`else` blocks, a unit's later arguments by position, `ch`
(the channel count here), and units that use themselves under an `if` (bounded recursion)."""
from __future__ import annotations

import pytest
from conftest import at

import mgdsl
from mgdsl.errors import MgError, SpecNameError, SpecSyntaxError, SpecTypeError, SpecValueError
from mgdsl.ide import analyse, completions, definition, saved_pyramids
from mgdsl.lang.format import format_text

NET = 'network "T" (w = 8, se = on)\ninput 3 @ 16x16\n'
GRIDS = 'network "T" (w = 8)\ninput 3 @ 16x16\ngrids 2\n'

SE = '''unit block(c, se = off, stride = 1):
    x = conv c stride=stride
    if se:
        gap; conv ch/4 kernel=1 bn=off; conv c kernel=1 bn=off act=sigmoid
        scale x
    else:
        relu
    if stride == 1:
        add in shortcut=none
'''


def error(text, cls=MgError, **params):
    with pytest.raises(MgError) as info:
        mgdsl.loads(text, "t.mg", **params)
    e = info.value
    assert isinstance(e, cls), e.report()
    return e


def layer_types(net):
    return [r.origin_type for r in net.graph.records()]


# -- if / else ---------------------------------------------------------------------------------------------------------
def test_an_if_in_a_unit_lowers_its_block_only_when_the_parameter_is_on():
    with_se = mgdsl.loads(NET + SE + "conv w\nblock w se=on\nfc 10\n")
    without = mgdsl.loads(NET + SE + "conv w\nblock w\nfc 10\n")
    assert "scale" in layer_types(with_se) and "gap" in layer_types(with_se)
    assert "scale" not in layer_types(without) and "gap" not in layer_types(without)
    assert "relu" in {r.kind for r in without.graph.records() if r.origin_type == "relu"}      # the else branch
    # the gate's 1x1 convs: w -> w/4 -> w, with biases
    assert with_se.num_params - without.num_params == (8 * 2 + 2) + (2 * 8 + 8)


def test_an_if_at_the_top_level_reads_network_parameters_and_set():
    text = NET + "conv w\nif se:\n    conv 2w\nelse:\n    conv 3w\nfc 10\n"
    assert mgdsl.loads(text).graph.node("s1.conv2.g16.conv").attrs["cout"] == 16
    assert mgdsl.loads(text, se="off").graph.node("s1.conv2.g16.conv").attrs["cout"] == 24
    for word, cout in (("true", 16), ("no", 24), ("1", 16), ("0", 24), ("OFF", 24)):
        assert mgdsl.loads(text, se=word).graph.node("s1.conv2.g16.conv").attrs["cout"] == cout


@pytest.mark.parametrize("cond, taken", [
    ("w == 8", True), ("w != 8", True and False), ("w > 4", True), ("w >= 9", False), ("w < 8", False),
    ("w <= 8", True), ("2w == 16", True), ("w / 2 == 4", True), ("se == on", True), ("se == off", False),
    ("se == true", True), ("se != on", False)])
def test_comparisons(cond, taken):
    net = mgdsl.loads(NET + f"conv w\nif {cond}:\n    conv 32\nfc 10\n")
    assert ("s1.conv2" in {r.path for r in net.graph.info.layers}) is taken


def test_words_compare_by_name_inside_units():
    text = NET + ("unit f(c, shortcut = pad):\n    conv c\n    if shortcut == proj:\n        relu\n"
                  "conv w\nf w shortcut=proj\nf w\nfc 10\n")
    net = mgdsl.loads(text)
    assert [r.path for r in net.graph.info.layers if r.type == "f"] == ["s1.f1", "s1.f2"]
    assert any(r.layer == "s1.f1" and r.origin_type == "relu" for r in net.graph.records())
    assert not any(r.layer == "s1.f2" and r.origin_type == "relu" for r in net.graph.records())


def test_a_pyramid_saved_in_a_branch_is_there_after_it_when_the_branch_ran():
    ok = mgdsl.loads(NET + "conv w\nif se:\n    a = conv w\nconv w; add a\nfc 10\n")
    assert ok.num_params > 0
    e = at(error(NET + "conv w\nif se:\n    a = conv w\nconv w; add a\nfc 10\n", SpecNameError, se="off"), 6, 13)
    assert "no saved pyramid is called 'a'" in e.message


def test_ifs_nest():
    text = NET + "conv w\nif se:\n    if w > 4:\n        conv 5\n    else:\n        conv 6\n    relu\nfc 10\n"
    net = mgdsl.loads(text)
    assert net.graph.node("s1.conv2.g16.conv").attrs["cout"] == 5
    assert mgdsl.loads(text, w=4).graph.node("s1.conv2.g16.conv").attrs["cout"] == 6


@pytest.mark.parametrize("value, shown", [("3", "3"), ("maybe", "maybe"), ("0.5", "0.5")])
def test_a_condition_that_is_not_on_or_off(value, shown):
    e = at(error(NET + "conv w\nif se:\n    relu\nfc 10\n", SpecTypeError, se=value), 4, 4)
    assert "an if needs on or off" in e.message and shown in e.message
    assert "compare it" in e.hint and e.notes          # where the value came from: the --set


def test_a_list_condition_and_a_word_where_a_number_is_compared():
    e = at(error(NET + "conv w\nif [1, 2]:\n    relu\nfc 10\n", SpecTypeError), 4, 4)
    assert "list of 2" in e.message
    e = at(error(NET + "conv w\nif se > 1:\n    relu\nfc 10\n", SpecNameError), 4, 4)
    assert "on" in e.message


def test_an_unknown_name_in_a_condition_is_an_error_with_a_suggestion():
    e = at(error(NET + "conv w\nif sse:\n    relu\nfc 10\n", SpecNameError), 4, 4)
    assert "unknown name 'sse'" in e.message and "'se'" in e.hint
    e = at(error(NET + "conv w\nif se == onn:\n    relu\nfc 10\n", SpecNameError), 4, 10)
    assert "onn" in e.message
    # inside a unit: the unit's own parameters are suggested
    e = at(error(NET + "unit f(shortcut = pad):\n    if shortcutt == proj:\n        relu\nconv w\nf\nfc 10\n",
                 SpecNameError), 4, 8)
    assert "'shortcut'" in e.hint and any(n[1].line == 7 for n in e.notes)


@pytest.mark.parametrize("text, line, col, words", [
    (NET + "if = conv 3\nfc 10\n", 3, 1, "`if` starts a conditional block"),
    (NET + "conv w\nelse:\n    relu\nfc 10\n", 4, 1, "`else:` must follow"),
    (NET + "conv w\nif se:\n    relu\n    else:\n    relu\nfc 10\n", 6, 5, "`else:` must follow"),
    (NET + "conv w\nif se:\nrelu\nfc 10\n", 5, 1, "block that the line above opens is empty"),
    (NET + "conv w\nif se\n    relu\nfc 10\n", 4, 6, "ends too early"),
    (NET + "conv w\n    relu\nfc 10\n", 4, 1, "unexpected indentation"),
])
def test_misplaced_if_and_else_are_located_syntax_errors(text, line, col, words):
    e = at(error(text, SpecSyntaxError), line, col)
    assert words in e.message, e.report()


def test_if_and_else_cannot_name_parameters_or_units():
    e = at(error('network "T" (if = 3)\ninput 3 @ 16x16\nconv 8\nfc 10\n', SpecNameError), 1, 14)
    assert "word of the language" in e.message
    e = at(error(NET + "unit f(else):\n    conv else\nconv w\nf 3\nfc 10\n", SpecNameError), 3, 8)
    assert "word of the language" in e.message
    e = at(error(NET + "unit else(c):\n    conv c\nconv w\nfc 10\n", SpecNameError), 3)
    assert "a unit cannot be called 'else'" in e.message


def test_a_section_inside_an_if_is_refused():
    e = at(error(NET + "conv w\nif se:\n    section two\nfc 10\n", SpecNameError), 5, 5)
    assert "top level" in e.hint


# -- positional arguments of units ---------------------------------------------------------------------------------------
SE_UNIT = "unit se(c, s = 4, act = sigmoid):\n    gap; conv s kernel=1 bn=off; conv c kernel=1 bn=off act=act\n" \
          "    scale in\n"


def test_a_units_later_arguments_go_by_position():
    by_position = mgdsl.loads(NET + SE_UNIT + "conv w\nse w 2 hardsigmoid\nfc 10\n")
    by_name = mgdsl.loads(NET + SE_UNIT + "conv w\nse w s=2 act=hardsigmoid\nfc 10\n")
    assert by_position.num_params == by_name.num_params
    assert [(r.id, r.attrs) for r in by_position.graph.records()] == [(r.id, r.attrs) for r in by_name.graph.records()]
    mixed = mgdsl.loads(NET + SE_UNIT + "conv w\nse w 2 act=hardsigmoid\nfc 10\n")
    assert mixed.num_params == by_name.num_params


def test_too_many_or_twice_given_unit_arguments():
    e = at(error(NET + SE_UNIT + "conv w\nse w 2 sigmoid 7\nfc 10\n", SpecTypeError), 7, 16)
    assert "se takes 3 values without a name, but 7 follows" in e.message and "c, s, act" in e.hint
    e = at(error(NET + SE_UNIT + "conv w\nse w 2 s=3\nfc 10\n", SpecTypeError), 7, 8)
    assert "s is given twice: by position and by name" in e.message
    e = at(error(NET + SE_UNIT + "conv w\nse w c=3\nfc 10\n", SpecTypeError), 7, 6)
    assert "by position and by name" in e.message


def test_built_in_layers_still_want_their_later_arguments_named():
    e = at(error(NET + "conv w 3\nfc 10\n", SpecTypeError), 3, 8)
    assert "second argument of conv must be named: write kernel=3" in e.message and "units take" in e.hint


# -- ch: the channel count here ---------------------------------------------------------------------------------------------
def test_ch_is_the_channel_count_of_the_grids_a_layer_acts_on():
    net = mgdsl.loads(NET + "conv w\nconv ch*4 kernel=1; conv ch/4 kernel=1\nfc 10\n")
    assert net.graph.node("s1.conv2.g16.conv").attrs["cout"] == 32
    assert net.graph.node("s1.conv3.g16.conv").attrs["cout"] == 8


def test_ch_is_read_per_grid_where_the_grids_differ():
    net = mgdsl.loads(GRIDS + "conv w, w/2\nconv 2 * ch\nconv ch + 1 on coarsest\ndrop\nfc 10\n")
    assert net.graph.node("s1.conv2.g16.conv").attrs["cout"] == 16
    assert net.graph.node("s1.conv2.g8.conv").attrs["cout"] == 8
    assert net.graph.node("s1.conv3.g8.conv").attrs["cout"] == 9


def test_ch_in_a_unit_and_in_its_defaults():
    text = NET + "unit inv(t = 4, out = ch):\n    conv ch*t kernel=1\n    conv out kernel=1\nconv w\ninv\ninv 2 12\nfc 10\n"
    net = mgdsl.loads(text)
    assert net.graph.node("s1.inv1.conv1.g16.conv").attrs["cout"] == 32
    assert net.graph.node("s1.inv1.conv2.g16.conv").attrs["cout"] == 8
    assert net.graph.node("s1.inv2.conv2.g16.conv").attrs["cout"] == 12


def test_a_parameter_called_ch_keeps_its_value():
    net = mgdsl.loads('network "T" (ch = 5)\ninput 3 @ 16x16\nconv 8\nconv ch\nfc 10\n')
    assert net.graph.node("s1.conv2.g16.conv").attrs["cout"] == 5


def test_ch_where_it_is_not_one_number():
    e = at(error(GRIDS + "conv w, w/2\nif ch > 2:\n    relu\ndrop\nfc 10\n", SpecValueError), 5, 4)
    assert "'ch' differs between the grids here" in e.message and "16x16:8, 8x8:4" in e.message
    e = at(error(GRIDS + "conv w, w/2\nconv [ch, 2]\ndrop\nfc 10\n", SpecTypeError), 5, 6)
    assert "one value per grid" in e.message
    e = at(error('network "T" (w = ch)\ninput 3 @ 16x16\nconv w\nfc 10\n', SpecNameError), 1, 18)
    assert "there are none here" in e.message
    e = at(error(GRIDS + "conv w, w/2\nch × relu\ndrop\nfc 10\n", SpecValueError), 5, 1)
    assert "differs" in e.message


def test_ch_in_a_condition_picks_a_branch():
    text = NET + ("unit maybe_add(c):\n    if ch == c:\n        conv c; add in\n    else:\n        conv c\n"
                  "conv w\nmaybe_add w\nmaybe_add 2w\nfc 10\n")
    kinds = [r.kind for r in mgdsl.loads(text).graph.records()]
    assert kinds.count("add") == 1


# -- units that use themselves --------------------------------------------------------------------------------------------
TREE = '''network "Tree" (w = 8, depth = 3)
input 3 @ 16x16
unit tree(c, depth):
    if depth > 1:
        a = tree c depth - 1
        tree c depth - 1
    else:
        a = conv c
        conv c
    concat a; conv c kernel=1
conv w; tree w depth
fc 10 pool=avg
'''


def test_a_unit_may_use_itself_under_an_if():
    net = mgdsl.loads(TREE)
    convs = [n for n in net.graph.records() if n.kind == "conv"]
    # depth d: 2^d leaf convs and 2^d - 1 roots, plus the stem
    assert len(convs) == 1 + 8 + 7
    assert net.graph.node("s1.tree1.tree2.tree1.conv1.g16.conv").kind == "conv"
    assert len([n for n in mgdsl.loads(TREE, depth=1).graph.records() if n.kind == "conv"]) == 1 + 2 + 1


def test_recursion_without_a_base_case_is_located_with_a_hint():
    text = NET + "unit forever(c):\n    conv c\n    forever c\nconv w\nforever w\nfc 10\n"
    e = error(text, SpecValueError)
    assert "nest more than 32 deep" in e.message and "base case" in e.hint
    assert e.span.line == 5


def test_recursion_still_meets_the_call_and_node_limits():
    e = error(TREE, SpecValueError, depth=20)
    assert "more than 50000 ops" in e.message
    empty = NET + "unit t(d):\n    if d > 0:\n        t d - 1\n        t d - 1\n    else:\n        use in\nconv w\nt 20\nfc 10\n"
    e = at(error(empty, SpecValueError), 8, 9)
    assert "50,000 layer and unit calls" in e.message


# -- the tools know the syntax ---------------------------------------------------------------------------------------------
def test_fmt_lays_out_if_else_and_comparisons():
    messy = NET + "conv w\nif w==8 :   # eight\n  conv 3\n  if se:\n          relu\nelse :\n   relu\nfc 10\n"
    assert format_text(messy) == NET + ("conv w\nif w == 8:  # eight\n    conv 3\n    if se:\n        relu\n"
                                        "else:\n    relu\nfc 10\n")
    assert format_text(format_text(TREE)) == format_text(TREE)


def test_the_editor_sees_lines_inside_if_blocks(tmp_path):
    text = NET + SE + "conv w\nblock w se=on\nif se:\n    e1 = conv w\n    add e1\nfc 10\n"
    path = tmp_path / "t.mg"
    a = analyse(path, text)
    assert a.net is not None and not a.problems
    line = text.splitlines().index("    add e1") + 1
    assert "e1" in saved_pyramids(a, line)
    where = definition(a, line, len("    add e") + 1)
    assert where is not None and where.line == line - 1
    assert "x" in saved_pyramids(a, 7)                  # inside the unit's if block
    labels = {c.label for c in completions(a, line + 1, 1)}
    assert {"if", "else", "conv"} <= labels


def test_on_after_a_units_values_starts_a_choice_of_grids():
    unit = "unit f(c, se = off):\n    conv c\n"
    for tail, col in (("f w on\n", 7), ("f w on kernel=3\n", 5)):
        e = at(error(NET + unit + "conv w\n" + tail + "fc 10\n", SpecSyntaxError), 6, col)
        assert "no grid follows" in e.message and "se=on" in e.hint


def test_a_string_where_a_statement_starts_is_a_syntax_error():
    for text in ('"N"', ')', 'if', 'else'):
        with pytest.raises(SpecSyntaxError):
            mgdsl.loads(text)


def test_the_generator_and_the_mutator_write_the_new_constructs():
    """tools/gen_specs.py writes if blocks, units taking a switch by position, units that use themselves and ch;
    most of those specs check, the others fail with a located error. tools/fuzz_specs.py puts lines in if blocks."""
    import random

    gen, fz = __import__("gen_specs"), __import__("fuzz_specs")
    texts = [gen.generate(random.Random(f"c-{i}")) for i in range(200)]
    joined = "\n".join(texts)
    for piece in ("if ", "else:", "gated ", "tree ", "ch"):
        assert piece in joined, piece
    for text in texts[:60]:
        try:
            mgdsl.loads(text, "gen.mg")
        except MgError as e:
            assert e.span is not None and e.span.source.path in ("gen.mg", "mgdsl/lang/prelude.mg"), e.report()
    lines = ["network \"T\"", "input 3 @ 8x8", "conv 4", "fc 2"]
    out, changed, same = fz.m_block(random.Random(3), lines)
    assert any(ln.lstrip().startswith(("if ", "else:")) for ln in out) and changed and not same


def test_hover_on_the_languages_own_words(tmp_path):
    from mgdsl.ide import hover
    text = NET + SE + "conv w\nblock w se=on\nfc 10\n"
    a = analyse(tmp_path / "t.mg", text)
    lines = text.splitlines()
    row = lines.index("    if se:") + 1
    assert "lowers the indented lines" in hover(a, row, 6)
    row = next(i for i, ln in enumerate(lines, 1) if "conv ch/4" in ln)
    assert "channel count" in hover(a, row, lines[row - 1].index("ch/4") + 2)
    row = lines.index("block w se=on") + 1
    assert "block" in hover(a, row, 2)


@pytest.mark.parametrize("cond, taken", [
    ("se and w > 4", True), ("not se", False), ("not se or w == 8", True), ("se and not w == 8", False),
    ("w > 4 and w < 10 or off", True), ("not not se", True), ("off or off and on", False), ("on or off and off", True)])
def test_conditions_join_with_not_and_or(cond, taken):
    net = mgdsl.loads(NET + f"conv w\nif {cond}:\n    conv 32\nfc 10\n")
    assert ("s1.conv2" in {r.path for r in net.graph.info.layers}) is taken


def test_joined_conditions_read_both_sides_and_format():
    e = at(error(NET + "conv w\nif se or sse:\n    relu\nfc 10\n", SpecNameError), 4, 10)
    assert "sse" in e.message
    e = at(error(NET + "conv w\nif se and 3:\n    relu\nfc 10\n", SpecTypeError), 4, 11)
    assert "on or off" in e.message
    at(error(NET + "conv w\nif se and:\n    relu\nfc 10\n", SpecSyntaxError), 4, 10)
    e = at(error('network "T" (not = 1)\ninput 3 @ 16x16\nconv 8\nfc 10\n', SpecNameError), 1, 14)
    assert "word of the language" in e.message
    text = NET + "conv w\nif not  se or w==8 and  on:\n    relu\nfc 10\n"
    assert "if not se or w == 8 and on:\n" in format_text(text)


def test_completion_on_an_if_line_offers_what_a_condition_reads(tmp_path):
    text = NET + SE + "conv w\nblock w se=on\nfc 10\n"
    a = analyse(tmp_path / "t.mg", text)
    row = text.splitlines().index("    if stride == 1:") + 1
    labels = {c.label for c in completions(a, row, len("    if s") + 1)}
    assert {"c", "se", "stride", "w", "ch", "and", "not"} <= labels
    outside = {c.label for c in completions(a, 1, 1)}
    assert "stride" not in outside


def test_a_value_word_as_a_condition_says_that_conditions_read_parameters():
    e = at(error(NET + "conv w\nif merge:\n    relu\nfc 10\n", SpecTypeError), 4, 4)
    assert "value word" in e.hint and "merge" in e.message


def test_deeply_nested_blocks_and_long_conditions_are_refused_where_they_go_too_deep():
    nested = "".join("    " * i + "if on:\n" for i in range(200)) + "    " * 200 + "relu\n"
    e = error(NET + "conv w\n" + nested + "fc 10\n", SpecSyntaxError)
    assert "blocks are nested too deeply" in e.message and "and" in e.hint
    e = at(error(NET + "conv w\nif " + " and ".join(["on"] * 5000) + ":\n    relu\nfc 10\n", SpecSyntaxError), 4)
    assert "nested more than" in e.message
    ok = "".join("    " * i + "if on:\n" for i in range(30)) + "    " * 30 + "relu\n"
    assert mgdsl.loads(NET + "conv w\n" + ok + "fc 10\n").num_params > 0


def test_an_empty_block_before_a_dedent_is_reported_at_the_line_that_left_it(spec_file):
    """Found by the fuzzer (mutant 2974 of seed 2027, GhostNet's else body swapped away): an `else:` (or
    `if`) inside a unit whose next line is back at the top level was reported at the header's end as
    'the line ends too early'; it is the empty block, at the line that should have been inside it."""
    text = 'network "T" (s = 1)\ninput 3 @ 8x8\nunit f(a):\n    if a > 0:\n        conv 4\n    else:\n' \
           'conv 4  # not in the block\nf 1\nfc 2\n'
    with pytest.raises(SpecSyntaxError) as info:
        mgdsl.load(spec_file(text))
    e = info.value
    assert "block that the line above opens is empty" in e.message
    assert (e.span.line, e.span.col, e.span.end_col) == (7, 1, 7)


def test_quoted_values_read_the_same_after_fmt(spec_file):
    """Found by the fuzzer (mutant 5183 of seed 2027): a message quoting a value as written changed
    when fmt re-spaced it, so fmt changed what check said."""
    messy = 'network "T" (e = 1)\ninput 3 @ 8x8\nx = conv 4\nconv 4; add x shortcut+e\nfc 2\n'
    messages = []
    for text in (messy, format_text(messy)):
        with pytest.raises(MgError) as info:
            mgdsl.load(spec_file(text))
        messages.append((info.value.message, info.value.hint))
    assert messages[0] == messages[1] and "shortcut+e" in messages[0][0]
