"""A Pygments lexer for .mg specs, registered under the `pygments.lexers` entry point, so that after
`pip install mgdsl`, `pygmentize -l mg spec.mg` (and Sphinx, Jupyter, mkdocs...) highlight specs.
The rules are those of `mgdsl.highlight`, shared with the editors' TextMate grammar."""
from __future__ import annotations

import re

from pygments.lexer import RegexLexer, bygroups
from pygments.token import Text, string_to_tokentype

from .highlight import rules


def _root():
    out = []
    for _, regex, _, tokens in rules():
        types = [string_to_tokentype(t) for t in tokens]
        out.append((regex, types[0] if len(types) == 1 else bygroups(*types)))
    out += [(r"\\[ \t]*\n", Text.Whitespace), (r"\s+", Text.Whitespace)]
    return out


class MgLexer(RegexLexer):
    """Multigrid network specs (.mg) of mgdsl."""
    name = "mgdsl"
    aliases = ["mg", "mgdsl"]
    filenames = ["*.mg"]
    url = "https://github.com/mgdsl/mgdsl"
    flags = re.MULTILINE
    tokens = {"root": _root()}
