"""The one way mgdsl writes a file (generated code, diagrams, formatted specs, exports, checkpoints,
logs, figures): `write_atomic`.

What a path names decides how it is written:

- a regular file, or nothing yet: the new content goes to a temporary file in the same folder, which
  is renamed over the old one only once it is complete and on disk. A crash, a full disk, a kill or
  an exception in the writer leaves the old file byte for byte as it was and no temporary file
  behind (on Linux the temporary file has no name until the rename, so even SIGKILL leaves
  nothing). A replaced file keeps its permission bits and its owner and group; if the owner cannot
  be kept (another user's file), the write is refused before anything is written. A file with other
  hard links gets a new inode under this name, as with an editor's safe save;
- a symbolic link: followed to its final target, which is written as above; the link stays a link
  (a dangling link gets its target created, as the shell's `>` does);
- a character device or a named pipe (`/dev/null`, a FIFO another process reads): written directly,
  and the node stays what it was; a named pipe that nothing reads from is refused instead of waited on;
- an open file descriptor of this process (`/dev/stdout`, `/dev/stderr`, `/dev/fd/N`): written to
  that descriptor, at its current position;
- a folder, a block device or a socket: refused.
"""
from __future__ import annotations

import errno
import os
import re
import secrets
import stat
import sys
from collections.abc import Callable
from typing import BinaryIO

from .errors import UsageError

_FD_FOLDER = re.compile(r"/proc/(?:self|thread-self|(\d+))(?:/task/\d+)?/fd")
_MAX_LINKS = 40                     # as the kernel's limit on a chain of symbolic links


def write_atomic(path: str | os.PathLike, data: str | bytes | None = None, *,
                 writer: Callable[[BinaryIO], object] | None = None) -> None:
    """Write `data` (text is written as UTF-8), or whatever `writer(binary_file)` writes, to `path`
    (see the module's docstring for what happens with links, devices, pipes and descriptors).
    Problems with the path or the disk are UsageErrors that name the path; an exception raised by
    `writer` itself propagates unchanged. Either way, a regular file is left as it was."""
    shown = os.fspath(path)
    if not shown:
        raise UsageError("cannot write a file with an empty name")
    if data is not None and writer is not None:
        raise ValueError("write_atomic takes data or a writer, not both")
    payload = data.encode("utf-8") if isinstance(data, str) else data
    fill: Callable[[BinaryIO], object] = writer or (lambda f: f.write(payload or b""))
    try:
        target, fd_number = _follow(shown)
    except OSError as e:
        raise _cannot(shown, e) from None
    if fd_number is not None:
        _write_descriptor(shown, fd_number, fill)
        return
    try:
        st: os.stat_result | None = os.stat(shown)
    except FileNotFoundError:
        st = None
    except OSError as e:
        raise _cannot(shown, e) from None
    if st is None or stat.S_ISREG(st.st_mode):
        _replace(shown, target, st, fill)
    elif stat.S_ISDIR(st.st_mode):
        raise UsageError(f"cannot write {shown}: it is a folder", hint="name a file inside it")
    elif stat.S_ISCHR(st.st_mode) or stat.S_ISFIFO(st.st_mode):
        _write_stream(shown, stat.S_ISFIFO(st.st_mode), fill)
    else:
        what = "a block device" if stat.S_ISBLK(st.st_mode) else "a socket" if stat.S_ISSOCK(st.st_mode) else \
            "neither a file nor a device"
        raise UsageError(f"cannot write {shown}: it is {what}", hint="write to a regular file")


# -- where a path leads --------------------------------------------------------------------------------
def _follow(path: str) -> tuple[str, int | None]:
    """Where a chain of symbolic links from `path` ends: (the last name, the descriptor number N if
    the chain reaches /proc/self/fd/N, which is what /dev/stdout, /dev/stderr and /dev/fd/N are).
    The last name is the entry a new file is renamed onto, so that the links stay links."""
    current = os.path.abspath(path)
    for _ in range(_MAX_LINKS):
        folder = os.path.realpath(os.path.dirname(current))
        name = os.path.basename(current)
        m = _FD_FOLDER.fullmatch(folder)
        if m and name.isdigit() and (m.group(1) is None or int(m.group(1)) == os.getpid()):
            return current, int(name)
        if not os.path.islink(current):
            return os.path.join(folder, name), None
        current = os.path.abspath(os.path.join(folder, os.readlink(current)))
    raise UsageError(f"cannot write {path}: too many levels of symbolic links")


def _cannot(path: str, e: OSError, unchanged: bool = False) -> UsageError:
    why = e.strerror or str(e)
    if e.errno == errno.ELOOP:
        why = "too many levels of symbolic links"
    return UsageError(f"cannot write {path}: {why}" + ("; the old file is unchanged" if unchanged else ""))


# -- the three ways of writing -------------------------------------------------------------------------
def _replace(shown: str, target: str, st: os.stat_result | None, fill: Callable[[BinaryIO], object]) -> None:
    """A complete new file renamed onto `target`, with the old one's mode and owner."""
    folder, name = os.path.split(target)
    try:
        dir_fd = os.open(folder, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0) | os.O_CLOEXEC)
    except FileNotFoundError:
        raise UsageError(f"cannot write {shown}: the folder {folder} does not exist") from None
    except OSError as e:
        raise _cannot(shown, e) from None
    try:
        fd, temp = _temporary(shown, folder, dir_fd)
        try:
            try:
                if st is not None:
                    _keep_owner_and_mode(shown, fd, st)
                with os.fdopen(os.dup(fd), "wb") as f:
                    fill(f)
                    f.flush()
                os.fsync(fd)
                if temp is None:       # an unnamed file: it gets a name only now, to be renamed at once
                    temp = _name_unnamed(shown, folder, dir_fd, fd)
                os.replace(temp, name, src_dir_fd=dir_fd, dst_dir_fd=dir_fd)
                temp = None
            except OSError as e:
                raise _cannot(shown, e, unchanged=st is not None) from None
        finally:
            os.close(fd)
            if temp is not None:
                try:
                    os.unlink(temp, dir_fd=dir_fd)
                except OSError:
                    pass
        try:
            os.fsync(dir_fd)           # the rename itself on disk (not every system can sync a folder)
        except OSError:
            pass
    finally:
        os.close(dir_fd)


def _temporary(shown: str, folder: str, dir_fd: int) -> tuple[int, str | None]:
    """A new file in the folder for the content: unnamed (O_TMPFILE, Linux) where the file system
    allows it, so that nothing is left behind whatever happens, else a hidden named one (its name
    relative to the folder). Its mode is the usual new-file mode (0666 less the umask)."""
    if hasattr(os, "O_TMPFILE") and os.path.isdir("/proc/self/fd"):
        try:
            return os.open(folder, os.O_TMPFILE | os.O_RDWR | os.O_CLOEXEC, 0o666), None
        except OSError as e:
            if e.errno not in (errno.EOPNOTSUPP, errno.EISDIR, errno.EINVAL):
                raise _cannot(shown, e) from None
    return _named_temporary(shown, folder, dir_fd)


def _named_temporary(shown: str, folder: str, dir_fd: int) -> tuple[int, str]:
    for _ in range(100):
        temp = f".mgdsl-{secrets.token_hex(6)}.tmp"
        try:
            return os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o666, dir_fd=dir_fd), temp
        except FileExistsError:
            continue
        except OSError as e:
            raise _cannot(shown, e) from None
    raise UsageError(f"cannot write {shown}: no free name for a temporary file in {folder}")


def _name_unnamed(shown: str, folder: str, dir_fd: int, fd: int) -> str:
    """Give the finished unnamed file a hidden name in its folder: a hard link through
    /proc/self/fd (with a dir_fd, os.link calls linkat(..., AT_SYMLINK_FOLLOW), which follows that
    link to the open file). Where the system will not, the content is copied to a named file."""
    temp = f".mgdsl-{secrets.token_hex(6)}.tmp"
    try:
        os.link(f"/proc/self/fd/{fd}", temp, dst_dir_fd=dir_fd, follow_symlinks=True)
        return temp
    except OSError as e:
        if e.errno in (errno.ENOSPC, errno.EDQUOT, errno.EROFS):
            raise
    out, temp = _named_temporary(shown, folder, dir_fd)
    try:
        st = os.fstat(fd)
        if os.fstat(out)[4:6] != (st.st_uid, st.st_gid):
            os.fchown(out, st.st_uid, st.st_gid)
        os.fchmod(out, stat.S_IMODE(st.st_mode))
        offset = 0
        while chunk := os.pread(fd, 1 << 20, offset):
            view = memoryview(chunk)
            while view:
                view = view[os.write(out, view):]
            offset += len(chunk)
        os.fsync(out)
    except BaseException:
        os.close(out)
        os.unlink(temp, dir_fd=dir_fd)
        raise
    os.close(out)
    return temp


def _keep_owner_and_mode(shown: str, fd: int, st: os.stat_result) -> None:
    new = os.fstat(fd)
    if (new.st_uid, new.st_gid) != (st.st_uid, st.st_gid):
        try:
            os.fchown(fd, st.st_uid, st.st_gid)
        except PermissionError:
            raise UsageError(f"cannot write {shown}: it belongs to another user or group (uid {st.st_uid}, gid "
                             f"{st.st_gid}), and a rewritten file would not; it is left unchanged",
                             hint="write it as its owner, or choose another output file") from None
    os.fchmod(fd, stat.S_IMODE(st.st_mode))        # after fchown, which clears set-user-ID bits


def _write_stream(shown: str, fifo: bool, fill: Callable[[BinaryIO], object]) -> None:
    """Straight into a character device or a named pipe (whose reader is already there)."""
    try:
        fd = os.open(shown, os.O_WRONLY | os.O_NONBLOCK | os.O_NOCTTY | os.O_CLOEXEC)
    except OSError as e:
        if fifo and e.errno == errno.ENXIO:
            raise UsageError(f"cannot write {shown}: it is a named pipe and nothing reads from it",
                             hint="start the reader first, or write to a regular file") from None
        raise _cannot(shown, e) from None
    try:
        os.set_blocking(fd, True)
        with os.fdopen(fd, "wb") as f:
            fill(f)
    except OSError as e:
        raise _cannot(shown, e) from None


def _write_descriptor(shown: str, number: int, fill: Callable[[BinaryIO], object]) -> None:
    """Into a descriptor this process holds (left open), after what Python buffered for it."""
    for stream in (sys.stdout, sys.stderr):
        try:
            if stream is not None and stream.fileno() == number:
                stream.flush()
        except (OSError, ValueError, AttributeError):
            pass
    try:
        with os.fdopen(os.dup(number), "wb") as f:
            fill(f)
    except OSError as e:
        raise _cannot(shown, e) from None
