"""How mgdsl writes files (`mgdsl.atomic.write_atomic`, used by every command that writes): a
replaced file keeps its mode and owner, links stay links, devices and named pipes stay what they
are, a failed or killed write leaves the old file byte-identical and nothing behind, and the output
of `-o /dev/stdout` goes to standard output."""
import errno
import os
import re
import signal
import stat
import subprocess
import sys
import textwrap
import threading
from pathlib import Path

import pytest
from conftest import ROOT

from mgdsl.atomic import write_atomic
from mgdsl.cli import main
from mgdsl.errors import UsageError

SPEC = 'network "F"\ninput 3 @ 8x8\nconv 4\nfc 2\n'
MESSY = 'network "F"\ninput 3@8x8\nconv 4\nfc 2\n'
TIDY = 'network "F"\ninput 3 @ 8x8\nconv 4\nfc 2\n'
ROOT_ONLY = pytest.mark.skipif(os.geteuid() != 0, reason="needs root (to own files as another user)")


@pytest.fixture
def spec(tmp_path):
    p = tmp_path / "net.mg"
    p.write_text(SPEC)
    return str(p)


def leftovers(folder) -> list[str]:
    return sorted(n for n in os.listdir(folder) if n.startswith(".mgdsl-") or n.endswith(".tmp"))


def drain(path, out: list):
    """Read a named pipe to its end in a thread. The read end is open before this returns (so a
    writer finds a reader), and the thread waits for a writer's data before it reads."""
    import select
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)

    def read():
        chunks = []
        while True:
            select.select([fd], [], [], 30)
            try:
                chunk = os.read(fd, 1 << 16)
            except BlockingIOError:
                continue
            if not chunk:
                break
            chunks.append(chunk)
        os.close(fd)
        out.append(b"".join(chunks))
    t = threading.Thread(target=read, daemon=True)
    t.start()
    return t


# -- devices, pipes, descriptors ----------------------------------------------------------------------
def test_compile_to_a_character_device_leaves_it_a_device(tmp_path, spec, capsys):
    """`-o /dev/null` as root: the device node must stay one (tried on a twin of /dev/null, made
    here, so that a failure cannot break the machine's own)."""
    node = tmp_path / "null"
    try:
        os.mknod(node, stat.S_IFCHR | 0o666, os.makedev(1, 3))
    except PermissionError:
        pytest.skip("mknod is refused here (not root, or no CAP_MKNOD); the named-pipe test covers the same path")
    assert main(["compile", spec, "-o", str(node)]) == 0
    st = os.lstat(node)
    assert stat.S_ISCHR(st.st_mode) and st.st_rdev == os.makedev(1, 3)
    assert capsys.readouterr().out.rstrip().endswith(f"wrote {node}")      # no advice on importing a device
    assert not leftovers(tmp_path)


def test_compile_to_a_named_pipe_writes_into_it(tmp_path, spec):
    fifo = tmp_path / "pipe.py"
    os.mkfifo(fifo)
    got: list[bytes] = []
    reader = drain(fifo, got)
    assert main(["compile", spec, "-o", str(fifo)]) == 0
    reader.join(30)
    assert not reader.is_alive()
    assert stat.S_ISFIFO(os.lstat(fifo).st_mode)
    assert got[0].startswith(b'"""F') and b"def build(" in got[0]


def test_a_named_pipe_nothing_reads_is_refused_without_waiting(tmp_path, spec, capsys):
    fifo = tmp_path / "pipe.py"
    os.mkfifo(fifo)
    done = []
    t = threading.Thread(target=lambda: done.append(main(["compile", spec, "-o", str(fifo)])), daemon=True)
    t.start()
    t.join(60)
    if t.is_alive():                       # unblock the writer before failing
        os.close(os.open(fifo, os.O_RDONLY | os.O_NONBLOCK))
        pytest.fail("mgdsl waited for a reader of the named pipe")
    assert done == [1] and stat.S_ISFIFO(os.lstat(fifo).st_mode)
    assert "nothing reads from it" in capsys.readouterr().err


def test_dev_stdout_writes_to_standard_output(tmp_path, spec):
    """Through a link of our own to /dev/stdout (-> /proc/self/fd/1), so that a failing version
    replaces that link, not the machine's /dev/stdout."""
    link = tmp_path / "stdout.py"
    os.symlink("/dev/stdout", link)
    with open(tmp_path / "out.txt", "wb") as out:       # standard output is a regular file here
        r = subprocess.run([sys.executable, "-m", "mgdsl", "compile", spec, "-o", str(link)], stdout=out,
                           stderr=subprocess.PIPE, cwd=ROOT)
    assert r.returncode == 0, r.stderr
    assert os.readlink(link) == "/dev/stdout"
    text = (tmp_path / "out.txt").read_text()
    summary, code, note = text.index("F  ("), text.index('"""F'), text.index(f"wrote {link}")
    assert summary < code < note                         # in the order they were written
    r = subprocess.run([sys.executable, "-m", "mgdsl", "compile", spec, "-o", str(link)], capture_output=True,
                       text=True, cwd=ROOT)              # standard output is a pipe
    assert r.returncode == 0 and "def build(" in r.stdout, r.stderr


def test_an_open_descriptor_is_written_at_its_position(tmp_path):
    with open(tmp_path / "log", "wb") as f:
        f.write(b"before\n")
        f.flush()
        write_atomic(f"/proc/self/fd/{f.fileno()}", "middle\n")
        f.seek(0, os.SEEK_END)
        f.write(b"after\n")
    assert (tmp_path / "log").read_bytes() == b"before\nmiddle\nafter\n"


@pytest.mark.parametrize("kind", ["block device", "socket"])
def test_block_devices_and_sockets_are_refused(tmp_path, kind):
    import socket
    p = tmp_path / "node"
    if kind == "socket":
        s = socket.socket(socket.AF_UNIX)
        s.bind(str(p))
    else:
        try:
            os.mknod(p, stat.S_IFBLK | 0o600, os.makedev(7, 200))
        except PermissionError:
            pytest.skip("mknod is refused here")
    with pytest.raises(UsageError, match=f"it is a {kind}"):
        write_atomic(p, "x")
    assert stat.S_IFMT(os.lstat(p).st_mode) == (stat.S_IFSOCK if kind == "socket" else stat.S_IFBLK)


# -- regular files: mode, owner, links -----------------------------------------------------------------
def test_fmt_keeps_a_private_spec_private(tmp_path, capsys):
    p = tmp_path / "secret.mg"
    p.write_text(MESSY)
    os.chmod(p, 0o600)
    assert main(["fmt", str(p)]) == 0
    assert p.read_text() == TIDY and stat.S_IMODE(os.stat(p).st_mode) == 0o600


@ROOT_ONLY
def test_a_replaced_file_keeps_its_owner_and_group(tmp_path, spec):
    out = tmp_path / "net.py"
    out.write_text("old")
    os.chown(out, 4321, 8765)
    os.chmod(out, 0o640)
    assert main(["compile", spec, "-o", str(out)]) == 0
    st = os.stat(out)
    assert (st.st_uid, st.st_gid, stat.S_IMODE(st.st_mode)) == (4321, 8765, 0o640)
    assert out.read_text().startswith('"""F')


@ROOT_ONLY
def test_a_file_whose_owner_cannot_be_kept_is_left_alone(tmp_path, monkeypatch):
    """As a user who may not give files away would meet it (fchown refused)."""
    p = tmp_path / "theirs.py"
    p.write_text("old")
    os.chown(p, 4321, 4321)

    def refuse(*a):
        raise PermissionError(errno.EPERM, "Operation not permitted")
    monkeypatch.setattr(os, "fchown", refuse)
    with pytest.raises(UsageError, match="belongs to another user"):
        write_atomic(p, "new")
    assert p.read_text() == "old" and not leftovers(tmp_path)


def test_fmt_formats_the_target_of_a_symbolic_link(tmp_path, capsys):
    real = tmp_path / "real" / "net.mg"
    real.parent.mkdir()
    real.write_text(MESSY)
    os.chmod(real, 0o640)
    link = tmp_path / "link.mg"
    os.symlink(os.path.relpath(real, tmp_path), link)
    assert main(["fmt", str(link)]) == 0
    assert os.path.islink(link) and os.readlink(link) == os.path.join("real", "net.mg")
    assert real.read_text() == TIDY and stat.S_IMODE(os.stat(real).st_mode) == 0o640
    assert not leftovers(tmp_path) and not leftovers(real.parent)


def test_a_chain_of_links_and_a_dangling_link(tmp_path):
    target = tmp_path / "a" / "file.txt"
    target.parent.mkdir()
    os.symlink("a/file.txt", tmp_path / "one")
    os.symlink("one", tmp_path / "two")
    write_atomic(tmp_path / "two", "made\n")              # dangling: the target is created, as `>` does
    assert target.read_text() == "made\n" and os.path.islink(tmp_path / "two") and os.path.islink(tmp_path / "one")
    write_atomic(tmp_path / "two", "again\n")
    assert target.read_text() == "again\n" and os.readlink(tmp_path / "two") == "one"


def test_a_loop_of_links_is_refused(tmp_path):
    os.symlink("b", tmp_path / "a")
    os.symlink("a", tmp_path / "b")
    with pytest.raises(UsageError, match="too many levels of symbolic links"):
        write_atomic(tmp_path / "a", "x")
    assert os.readlink(tmp_path / "a") == "b" and os.readlink(tmp_path / "b") == "a"


def test_a_new_file_gets_the_usual_mode(tmp_path):
    old = os.umask(0o027)
    try:
        write_atomic(tmp_path / "new.txt", "x")
    finally:
        os.umask(old)
    assert stat.S_IMODE(os.stat(tmp_path / "new.txt").st_mode) == 0o640


# -- failures leave the old file -----------------------------------------------------------------------
def test_a_full_disk_leaves_the_old_file_and_says_so(tmp_path):
    p = tmp_path / "net.py"
    p.write_bytes(b"old content\n")

    def writer(f):
        f.write(b"half of the new")
        raise OSError(errno.ENOSPC, "No space left on device")
    with pytest.raises(UsageError, match="No space left on device; the old file is unchanged"):
        write_atomic(p, writer=writer)
    assert p.read_bytes() == b"old content\n" and os.listdir(tmp_path) == ["net.py"]


def test_an_exception_in_the_writer_leaves_the_old_file(tmp_path):
    p = tmp_path / "net.py"
    p.write_bytes(b"old content\n")

    def writer(f):
        f.write(b"half")
        raise RuntimeError("the writer broke")
    with pytest.raises(RuntimeError, match="the writer broke"):
        write_atomic(p, writer=writer)
    assert p.read_bytes() == b"old content\n" and os.listdir(tmp_path) == ["net.py"]


def test_a_device_that_is_full_is_a_usage_error(tmp_path):
    """On a twin of /dev/full made here (a failing version must not replace the machine's own)."""
    full = tmp_path / "full"
    try:
        os.mknod(full, stat.S_IFCHR | 0o666, os.makedev(1, 7))
    except PermissionError:
        pytest.skip("mknod is refused here (not root, or no CAP_MKNOD)")
    with pytest.raises(UsageError, match=f"cannot write {full}: No space left on device"):
        write_atomic(full, "x" * 100_000)
    assert stat.S_ISCHR(os.lstat(full).st_mode)


def test_a_killed_write_leaves_the_old_file_and_no_temporary_file(tmp_path):
    p = tmp_path / "checkpoint.pt"
    p.write_bytes(b"the old checkpoint")
    code = textwrap.dedent(f"""
        import sys, time
        from mgdsl.atomic import write_atomic
        def writer(f):
            f.write(b"x" * 100000)
            f.flush()
            print("writing", flush=True)
            time.sleep(60)
        write_atomic({str(p)!r}, writer=writer)
    """)
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True, cwd=ROOT)
    try:
        assert proc.stdout.readline().strip() == "writing"
        proc.send_signal(signal.SIGKILL)
    finally:
        proc.wait(30)
    assert p.read_bytes() == b"the old checkpoint"
    assert os.listdir(tmp_path) == ["checkpoint.pt"], "a killed write left a temporary file"


# -- one writer for everything ---------------------------------------------------------------------------
WRITES = re.compile(r"""\bopen\([^)]*["'][wx]b?\+?["']|\.write_(text|bytes)\(|torch\.save\([\w.]+,(?!\s*f\))"""
                    r"""|savefig\((?!f[,)])|os\.(replace|rename)\(|shutil\.(copy|move)""")


def test_every_write_goes_through_the_one_writer():
    """Outside mgdsl/atomic.py the package never opens a file for writing, renames one into place or
    saves straight to a path; appending a line to a run's log (`open(..., "a")`) is the exception."""
    found = []
    for path in sorted((ROOT / "mgdsl").rglob("*.py")):
        if path.name == "atomic.py":
            continue
        for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            if WRITES.search(line.split("#")[0]):
                found.append(f"{path.relative_to(ROOT)}:{n}: {line.strip()}")
    assert not found, "\n".join(found)


def test_compile_into_a_missing_folder_or_onto_a_folder(tmp_path, spec, capsys):
    assert main(["compile", spec, "-o", str(tmp_path / "no" / "net.py")]) == 1
    assert "does not exist" in capsys.readouterr().err
    assert main(["compile", spec, "-o", str(tmp_path)]) == 1
    assert "is a folder" in capsys.readouterr().err
    assert Path(spec).read_text() == SPEC


@pytest.mark.parametrize("how", ["no hard link through /proc", "no unnamed files"])
def test_systems_without_the_linux_ways_still_write_safely(tmp_path, monkeypatch, how):
    p = tmp_path / "net.py"
    p.write_bytes(b"old")
    os.chmod(p, 0o604)
    if how == "no unnamed files":
        monkeypatch.delattr(os, "O_TMPFILE")
    else:
        def no_link(*a, **k):
            raise OSError(errno.EXDEV, "Invalid cross-device link")
        monkeypatch.setattr(os, "link", no_link)
    data = os.urandom(3 << 20)
    write_atomic(p, data)
    assert p.read_bytes() == data and stat.S_IMODE(os.stat(p).st_mode) == 0o604 and os.listdir(tmp_path) == ["net.py"]
