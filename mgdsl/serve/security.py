"""What keeps `mgdsl serve` to its folder: spec paths from URLs, a loader that never reads outside the
root, and the checks every request passes (the token, the Host header). No web framework here, so
that it can be tested, and reasoned about, on its own.

The *root* is a real path (symbolic links resolved). A path is inside it when its real path is the
root or under it; a path from a URL must moreover be relative, `/`-separated, without `.` or `..`
parts, backslashes or NUL, and name a `.mg` file. Every check is made on names alone, before any
file is opened, so a refused path is never read.
"""
from __future__ import annotations

import hashlib
import hmac
import os
import secrets
from pathlib import Path

from ..errors import MgError, Span, SpecNameError, UsageError
from ..lang import ast as A
from ..lang.loader import Loader, read_spec

TOKEN_BYTES = 24                  # 32 url-safe characters
COOKIE = "mgdsl_token"
MAX_BODY = 256 * 1024             # bytes of a request body (POST /api/preview)


class Refused(Exception):
    """A path from a URL that is not a spec under the root; the server answers 404 and reads nothing."""


def new_token() -> str:
    return secrets.token_urlsafe(TOKEN_BYTES)


def same_token(given: str | None, token: str) -> bool:
    """Compare in constant time (the token is a password)."""
    return given is not None and hmac.compare_digest(given.encode("utf-8", "surrogateescape"), token.encode("utf-8"))


def allowed_hosts(host: str, port: int) -> set[str]:
    """The Host headers a request may carry: the loopback names and the --host given, with the port.
    Anything else is a page of another site reaching this server by DNS rebinding."""
    names = {"127.0.0.1", "localhost", "[::1]", f"[{host}]" if ":" in host and not host.startswith("[") else host}
    return {f"{n}:{port}" for n in names}


def inside(real: str, root: str) -> bool:
    """`real` (a real path) is the root or under it."""
    return real == root or real.startswith(root.rstrip(os.sep) + os.sep)


def rel_path(real: str, root: str) -> str:
    """The `/`-separated path of a file under the root, as URLs and the API name it."""
    return Path(os.path.relpath(real, root)).as_posix()


def confine(root: str, path: str) -> str:
    """The real path of the spec a URL names by `path` (relative to the root); `Refused` for anything
    else: an empty, absolute or backslashed path, NUL, `.` or `..` parts, a name not ending in .mg,
    a path whose real path (symbolic links followed) leaves the root, and a file that is not there."""
    if not path or "\\" in path or "\x00" in path or path.startswith("/") or path[1:2] == ":" or os.path.isabs(path):
        raise Refused(path)
    parts = path.split("/")
    if any(p in ("", ".", "..") for p in parts) or not path.endswith(".mg"):
        raise Refused(path)
    real = os.path.realpath(os.path.join(root, *parts))
    if not inside(real, root) or not os.path.isfile(real):
        raise Refused(path)
    return real


def text_hash(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


class ConfinedLoader(Loader):
    """A Loader that reads only files under `root`: an `import` or `network ... from` of a file
    outside it is a located error at that line, and nothing is opened. It also records the hash of
    every file it reads (`read`), so that what was computed from them can be cached by content, and
    names files by their paths relative to the root in what it reports."""

    def __init__(self, root: str, unsaved: dict[str, str] | None = None):
        super().__init__(unsaved)
        self.root = root
        self.read: dict[str, str | None] = {}  # real path -> sha256 of the bytes (or unsaved text) read; None:
                                               # it could not be read (missing, a folder, too large)

    def load(self, path: str | os.PathLike, span: Span | None = None, chain: tuple[str, ...] = ()) -> A.Module:
        real = os.path.realpath(path)
        shown = rel_path(real, self.root) if inside(real, self.root) else str(path)
        if not inside(real, self.root):
            if span is None:
                raise UsageError(f"{shown} is outside the folder being served ({self.root}); it was not read")
            raise SpecNameError(f"{shown} is outside the folder being served ({self.root}); mgdsl serve does not "
                                "read it", span, hint="serve a folder that holds both files: mgdsl serve FOLDER")
        key = str(Path(path).resolve())
        if key not in self.modules and key not in self.read:
            if key in self.unsaved:
                self.read[key] = text_hash(self.unsaved[key].encode("utf-8"))
            else:
                try:
                    data = read_spec(Path(real), shown, span)   # a located error when it cannot be read
                except MgError:
                    self.read[key] = None         # so that a result is redone once the file can be read
                    raise
                self.read[key] = text_hash(data)
                try:
                    self.unsaved[key] = data.decode("utf-8")
                except UnicodeDecodeError:
                    pass                          # the loader reads it again and says where it stops being text
        return super().load(path, span, chain)


def current_hash(real: str, root: str) -> str | None:
    """The hash of a file's bytes now (None when it cannot be read), to tell whether a cached result is
    still the file's. Only paths that a ConfinedLoader tried to read come here."""
    if not inside(real, root):
        return None
    try:
        return text_hash(read_spec(Path(real), real, None))
    except MgError:              # gone, not a file, too large: not the same file
        return None
