"""Browse specs in a web browser: a gallery of every spec (params, MACs, outputs, status and a small
diagram each), and a page per spec with its highlighted source and diagnostics, the diagram (hover a
box for its layer, grid, shape, params, MACs and receptive field; click it to find its line), the
per-layer table with receptive fields, bar charts of MACs and params by section and by grid, a form
for the network's parameters (as --set), downloads (.svg, .png, .csv, .json, .py, .onnx), and a page
comparing two specs or two settings of one. Pages update as soon as a spec, or a file it imports, is
saved. Serves the .mg files of PATH (folders recursively, or files; default: the current folder).

Prints one line, `mgdsl serve: http://127.0.0.1:PORT/?token=TOKEN`, and serves until interrupted
(Ctrl-C). The server listens on 127.0.0.1 only (unless --host says otherwise), answers only requests
that carry the printed token (a cookie after the first page) and name this server as their Host,
never reads a file outside the common folder of the PATHs (an `import` of one is an error at that
line), and writes nothing unless --allow-writes (which lets the page save an edited spec over its
file). Needs the optional dependencies starlette, uvicorn and watchfiles: pip install 'mgdsl[serve]'."""
from __future__ import annotations

import os
import socket
import sys
import threading
import time
import webbrowser

from ..errors import UsageError
from ..serve.security import new_token

HELP = "browse specs, diagrams and costs in a web browser, live as you edit (needs pip install 'mgdsl[serve]')"
NEEDS = ("starlette", "uvicorn", "watchfiles")


def configure(p):
    p.add_argument("paths", nargs="*", metavar="PATH", help="folders (every .mg under them) and .mg files to serve "
                                                            "(default: the current folder)")
    p.add_argument("--host", default="127.0.0.1", help="the address to listen on (default 127.0.0.1: this machine only)")
    p.add_argument("--port", type=int, default=0, help="the port (default 0: any free one)")
    p.add_argument("--open", action="store_true", help="open the gallery in the web browser")
    p.add_argument("--allow-writes", action="store_true",
                   help="let the page save edited specs over their files (by default nothing is ever written)")


def served_root(paths: list[str]) -> tuple[str, list[str]]:
    """(the root: the common folder of the PATHs, with symbolic links resolved; the PATHs' real paths)."""
    reals = []
    for p in paths:
        real = os.path.realpath(p)
        if not os.path.exists(real):
            raise UsageError(f"no such file or folder: {p}")
        if os.path.isfile(real) and not real.endswith(".mg"):
            raise UsageError(f"{p} is not a .mg spec", hint="give folders, or .mg files")
        if not os.path.isfile(real) and not os.path.isdir(real):
            raise UsageError(f"{p} is neither a folder nor a file")
        reals.append(real)
    folders = [r if os.path.isdir(r) else os.path.dirname(r) for r in reals]
    try:
        root = os.path.commonpath(folders)
    except ValueError:                       # different drives
        raise UsageError("the PATHs have no folder in common", hint="serve them one at a time") from None
    return root, reals


def _listen(host: str, port: int) -> socket.socket:
    if not 0 <= port <= 65535:
        raise UsageError(f"--port must be between 0 and 65535, not {port}")
    try:
        family, kind, proto, _, address = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0]
        sock = socket.socket(family, kind, proto)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(address)
    except OSError as e:
        raise UsageError(f"cannot listen on {host}:{port}: {e.strerror or e}",
                         hint="choose another --port, or leave it out for any free one") from None
    sock.listen(128)
    sock.set_inheritable(True)
    return sock


def _open_when_up(server, url: str) -> None:
    def wait():
        for _ in range(200):
            if server.started:
                webbrowser.open(url)
                return
            time.sleep(0.05)
    threading.Thread(target=wait, daemon=True).start()


def run(args) -> int:
    try:
        import starlette  # noqa: F401  (here: the optional dependencies; `mgdsl serve --help` works without them)
        import uvicorn
        import watchfiles  # noqa: F401
    except ImportError:
        print(f"mgdsl serve needs {', '.join(NEEDS)}, optional dependencies: pip install 'mgdsl[serve]'",
              file=sys.stderr)
        return 1
    from ..serve.app import create_app  # here: it imports starlette, an optional dependency

    root, reals = served_root(args.paths or ["."])
    os.chdir(root)                   # messages then name files as `mgdsl check` run in the root does
    sock = _listen(args.host, args.port)
    port = sock.getsockname()[1]
    token = new_token()
    app = create_app(root, reals, token=token, host=args.host, port=port, allow_writes=args.allow_writes)
    shown = f"[{args.host}]" if ":" in args.host else args.host
    url = f"http://{shown}:{port}/?token={token}"
    print(f"mgdsl serve: {url}", flush=True)
    class Server(uvicorn.Server):
        def handle_exit(self, sig, frame) -> None:
            app.state.hub.close_soon()        # end the live-update streams, or the server would wait for them
            super().handle_exit(sig, frame)

    config = uvicorn.Config(app, log_level="warning", lifespan="on", timeout_graceful_shutdown=2)
    server = Server(config)
    if args.open:
        _open_when_up(server, url)
    server.run(sockets=[sock])
    return 0
