"""Atomic file writes: a temporary file beside the target, then a rename, so that a crash or a
kill never leaves a half-written output, diagram or checkpoint behind."""
from __future__ import annotations

import os
import tempfile

from .errors import UsageError


def write_atomic(path: str | os.PathLike, data: str | bytes | None = None, *, writer=None) -> None:
    """Write `data` (text or bytes), or call `writer(file_object)`, then rename into place."""
    path = os.fspath(path)
    folder = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(folder):
        raise UsageError(f"cannot write {path}: the folder {folder} does not exist")
    if os.path.isdir(path):
        raise UsageError(f"cannot write {path}: it is a folder", hint="name a file inside it")
    try:
        fd, tmp = tempfile.mkstemp(dir=folder, prefix=".mgdsl-", suffix=".tmp")
    except OSError as e:
        raise UsageError(f"cannot write {path}: {e.strerror}") from None
    try:
        with os.fdopen(fd, "wb") as f:
            if writer is not None:
                writer(f)
            else:
                f.write(data.encode("utf-8") if isinstance(data, str) else data)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o666 & ~_umask())     # mkstemp makes 0600 files; give the usual permissions
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask
