"""Highlighting: the Pygments lexer (found by its entry point, as `pygmentize -l mg` finds it) and the
editors' TextMate grammar, both from the language's own word lists."""
import glob
import json
import re
import subprocess
import sys

import pytest
from conftest import ROOT
from pygments.lexers import get_lexer_by_name, get_lexer_for_filename
from pygments.token import Error

from mgdsl.graph.layer_api import LAYERS
from mgdsl.highlight import textmate_json, vocabulary
from mgdsl.lang.parser import grammar_text

SPECS = sorted(glob.glob("specs/**/*.mg", recursive=True)) + ["mgdsl/lang/prelude.mg"]
GRAMMAR = ROOT / "editors" / "vscode" / "syntaxes" / "mg.tmLanguage.json"


def test_entry_point_finds_the_lexer():
    assert type(get_lexer_by_name("mg")).__name__ == "MgLexer"
    assert type(get_lexer_for_filename("x.mg")).__name__ == "MgLexer"


@pytest.mark.parametrize("path", SPECS)
def test_every_spec_lexes_without_error_tokens(path):
    text = (ROOT / path).read_text(encoding="utf-8")
    tokens = list(get_lexer_by_name("mg").get_tokens(text))
    assert "".join(v for _, v in tokens) == text if text.endswith("\n") else text + "\n"
    assert [v for t, v in tokens if t in Error] == []


def test_an_unknown_character_is_an_error_token():
    assert [v for t, v in get_lexer_by_name("mg").get_tokens("conv w $\n") if t in Error] == ["$"]


def test_pygmentize_command():
    out = subprocess.run([sys.executable, "-m", "pygments", "-l", "mg", "-f", "html", "specs/families/r-pmg.mg"],
                         capture_output=True, text=True, cwd=ROOT)
    assert out.returncode == 0 and 'class="nb">resmg' not in out.stdout and 'class="nb">pool' in out.stdout


def test_words_come_from_the_grammar_and_the_registry():
    v = vocabulary()
    assert v["layers"] == sorted(LAYERS)
    literals = set(re.findall(r'"([a-z]+)"', grammar_text()))
    assert literals <= set(v["keywords"]) and {"on", "coarsest", "finest", "from"} <= set(v["keywords"])
    assert {"res", "resmg"} <= set(v["units"])


def test_textmate_grammar_is_current():
    assert GRAMMAR.read_text(encoding="utf-8") == textmate_json(), "run python tools/make_editor_files.py"


def _scope_of(grammar, word):
    """The scope the first matching pattern gives a word on its own line, as an editor would apply it."""
    for pat in grammar["patterns"]:
        m = re.compile(pat["match"], re.M).match(word)
        if m:
            return pat.get("name") or pat["captures"]["1"]["name"] if m.end() == len(word) else None
    return None


def test_textmate_patterns_compile_and_cover_every_keyword_and_layer():
    grammar = json.loads(GRAMMAR.read_text(encoding="utf-8"))
    for pat in grammar["patterns"]:
        re.compile(pat["match"])
    v = vocabulary()
    for word in v["keywords"]:
        assert _scope_of(grammar, word).startswith("keyword"), word
    for word in v["layers"]:
        assert _scope_of(grammar, word) == "support.function.builtin.mg", word
    for word in v["units"]:
        assert _scope_of(grammar, word) == "support.function.mg", word
    assert _scope_of(grammar, "resnet") == "variable.other.mg"      # a word that only starts like one


def test_vscode_manifest():
    pkg = json.loads((ROOT / "editors" / "vscode" / "package.json").read_text(encoding="utf-8"))
    (lang,) = pkg["contributes"]["languages"]
    assert ".mg" in lang["extensions"]
    (gram,) = pkg["contributes"]["grammars"]
    assert (ROOT / "editors" / "vscode" / gram["path"]).resolve() == GRAMMAR.resolve()
    assert pkg["contributes"]["configuration"]["properties"]["mgdsl.command"]["default"] == ["mgdsl", "lsp"]
    main = (ROOT / "editors" / "vscode" / pkg["main"]).read_text(encoding="utf-8")
    assert "LanguageClient" in main and "\"mgdsl\", \"lsp\"" in main


# -- on/off as values: one kind of token everywhere; `on` before grid selectors stays a keyword ----------------------
SWITCH_LINE = "conv 8 bias=off bn=on relu=on, off kernel=3 on coarsest"
VALUES = [("off", 0), ("on", 0), ("on", 1), ("off", 1)]          # (word, which occurrence) used as values


def _occurrences(line, word):
    return [m.start() for m in re.finditer(rf"\b{word}\b", line)]


def _pygments_kinds(line):
    """{start column: token type} of every token of the line."""
    out, pos = {}, 0
    for tok, value in get_lexer_by_name("mg").get_tokens(line + "\n"):
        out[pos] = tok
        pos += len(value)
    return out


def _textmate_scopes(grammar, line):
    """{start column: scope}, tokenizing as a TextMate engine does: at each point the pattern whose
    match starts first wins (ties: the earlier pattern); patterns see the whole line (look-behind)."""
    pats = [(re.compile(p["match"]), p) for p in grammar["patterns"]]
    out, pos = {}, 0
    while pos < len(line):
        found = [(m.start(), i, m, p) for i, (rx, p) in enumerate(pats) if (m := rx.search(line, pos)) and m.end() > m.start()]
        if not found:
            break
        _, _, m, p = min(found, key=lambda f: (f[0], f[1]))
        if "name" in p:
            out[m.start()] = p["name"]
        else:
            for i, cap in p["captures"].items():
                if m.group(int(i)):
                    out[m.start(int(i))] = cap["name"]
        pos = m.end()
    return out


def test_on_and_off_values_are_highlighted_alike():
    from pygments.token import Keyword, Name
    grammar = json.loads(GRAMMAR.read_text(encoding="utf-8"))
    for line in (SWITCH_LINE, "fc 10 relu=ON bias=Off", "conv w bias= on", "x = conv [on, off]", 'network "T" (r = on)'):
        kinds, scopes = _pygments_kinds(line), _textmate_scopes(grammar, line)
        for word in ("on", "off", "ON", "Off"):
            for col in _occurrences(line, word):
                if line[col:].startswith("on coarsest"):
                    continue
                assert kinds[col] is Name.Constant, (line, word, col, kinds[col])
                assert scopes[col] == "constant.language.mg", (line, word, col, scopes.get(col))
    for line in ("conv 8 on coarsest", "conv 8 relu=off on coarsest, 4x4", "pool on finest 2", "relu on 8x8"):
        col = line.index("on ") if not line.startswith("conv 8 relu") else line.index(" on ") + 1
        assert _pygments_kinds(line)[col] is Keyword, line
        assert _textmate_scopes(grammar, line)[col] == "keyword.control.mg", line


def test_the_comparisons_of_if_lines_are_operators():
    tokens = list(get_lexer_by_name("mg").get_tokens("if n >= 2 and w != 3 or k < 1 or t > 0 or u == 1 or v <= 2:\n"))
    assert [v for t, v in tokens if t in Error] == []
    assert [v for t, v in tokens if str(t) == "Token.Operator"] == [">=", "!=", "<", ">", "==", "<="]
