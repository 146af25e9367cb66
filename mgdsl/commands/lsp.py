"""Run the mgdsl language server on standard input and output (the Language Server Protocol, as
editors speak it): errors and warnings as you type, each layer line's pyramid before and after with
its parameters and MACs on hover, go to definition of units and imports, completion of layer types,
parameter names and saved pyramids, and formatting. Editors start it themselves; see docs/editors.md
for VS Code, Neovim, Emacs and Helix. Needs the optional dependency pygls: pip install 'mgdsl[lsp]'."""
from __future__ import annotations

import sys

HELP = "run the language server for editors (stdio; needs pip install 'mgdsl[lsp]')"


def configure(p):
    p.add_argument("--stdio", action="store_true", help="talk over standard input and output (the default and only way)")


def run(args) -> int:
    try:
        import pygls  # noqa: F401
    except ImportError:
        print("mgdsl lsp needs pygls, an optional dependency: pip install 'mgdsl[lsp]'", file=sys.stderr)
        return 1
    from ..lsp import serve  # here: it imports pygls, which only the server needs
    serve()
    return 0
