"""Rewrite specs in the one canonical layout: spacing, `×` for repetition, unit bodies and `if` blocks
indented by 4, trailing comments of a paragraph aligned, at most one blank line in a row. Comments are kept, and the
result always parses to the same tokens as the input (checked on every run), so the network does not
change. Formatting twice changes nothing. A SPEC that is a folder means every .mg file under it;
`-` formats standard input to standard output. Input is read as `mgdsl check` reads it (regular files
and standard input up to the 1 MiB spec limit; a byte-order mark; CR LF, CR-only or lone CR line
endings). A file keeps its byte-order mark, and its CR LF line endings if its first line ends in
CR LF; CR-only and lone CR endings become LF. The rules are in docs/editors.md."""
from __future__ import annotations

import difflib
import sys
from pathlib import Path
from typing import Any

from ..atomic import write_atomic
from ..errors import MgError, SpecSyntaxError, UsageError
from ..lang.format import format_file
from ..lang.loader import read_spec
from ..lang.parser import MAX_SPEC_BYTES, decode

HELP = "format specs in the canonical layout (--check: only say which would change)"


def configure(p):
    p.add_argument("specs", nargs="+", metavar="SPEC", help=".mg files, folders of them, or - for standard input")
    p.add_argument("--check", action="store_true",
                   help="write nothing; list the files that would change and exit 1 if there are any (for CI)")
    p.add_argument("--diff", action="store_true", help="write nothing; print a unified diff of the changes")


def _files(specs: list[str]) -> list[str]:
    out = []
    for s in specs:
        p = Path(s)
        if s != "-" and p.is_dir():
            found = sorted(str(f) for f in p.rglob("*.mg") if f.is_file())
            if not found:
                raise UsageError(f"no .mg files under {s}")
            out += found
        elif s == "-" or p.exists() or p.is_symlink():
            out.append(s)           # a pipe, a device or a dangling link is refused when read, with the others read
        else:
            raise UsageError(f"no such file or folder: {s}")
    return out


def read_stdin(limit: int) -> bytes:
    """Standard input, read in pieces and refused once it passes `limit` bytes (an endless input,
    `yes | mgdsl fmt -`, is never held whole nor waited on to its end)."""
    stream: Any = sys.stdin.buffer          # buffered: read1 returns what is there, without waiting for more
    chunks, size = [], 0
    while chunk := stream.read1(1 << 16):
        chunks.append(chunk)
        size += len(chunk)
        if size > limit:
            raise SpecSyntaxError(f"<stdin> is larger than {limit // 1024} KiB; specs are limited to "
                                  f"{limit // 1024} KiB", hint="is it really a .mg spec?")
    return b"".join(chunks)


def run(args) -> int:
    changed, failed = [], 0
    for path in _files(args.specs):
        try:
            data = read_stdin(MAX_SPEC_BYTES) if path == "-" else read_spec(Path(path), path, None)
            source = decode(data, "<stdin>" if path == "-" else path)
            new = format_file(source)
        except MgError as e:
            failed += 1
            print(e.report(), file=sys.stderr)
            continue
        if path == "-" and not (args.check or args.diff):
            sys.stdout.flush()
            sys.stdout.buffer.write(new.encode("utf-8"))     # bytes: the line endings exactly as formatted
            continue
        if new == source.text:
            continue
        changed.append(path)
        if args.diff:
            sys.stdout.writelines(difflib.unified_diff(source.text.splitlines(True), new.splitlines(True),
                                                       f"{path} (before)", f"{path} (formatted)"))
        elif args.check:
            print(f"would reformat {path}", file=sys.stderr)
        else:
            write_atomic(path, new.encode("utf-8"))
            print(f"reformatted {path}", file=sys.stderr)
    if args.check or args.diff:
        if changed:
            print(f"{len(changed)} file{'s' if len(changed) != 1 else ''} would be reformatted", file=sys.stderr)
        return 1 if changed or failed else 0
    return 1 if failed else 0
