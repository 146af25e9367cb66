#!/usr/bin/env python3
"""Mutation fuzzing of `mgdsl check` with the project's own specs as seeds.

Every .mg file under specs/ and the prelude are mutated the way a hurried or hostile user would
edit them: lines deleted, duplicated, swapped and re-indented; numbers replaced by edge values (0,
-1, huge, fractional, thousands of digits); names perturbed, swapped and shadowed; Unicode
look-alikes; every line-ending style, byte-order marks and odd whitespace; deep nesting and long
chains; repeats that multiply; lines put in `if` blocks (conditions that hold, fail, are no switch or
name nothing) and stray `else:` lines; odd section names; imports of folders, pipes, devices, binary and
huge files. Each mutant is checked exactly as `mgdsl check FILE` does (mgdsl.cli.main, in a worker
process with a memory limit and a time limit), and classified:

  valid      the mutant checks (with or without warnings)
  located    an error on a line the mutation changed, or with a note there
  explained  an error on a line the change feeds (a later line, a spec using a changed unit file)
  bad        a traceback (exit 70), a check over the time limit (CPU seconds, read from /proc while
             it runs; or hung: no answer after max(3x that, 120 s) of wall-clock time), memory
             exhaustion, a crashed worker, an error at an unrelated line, a quoted line that is not
             the reported line,
             or an edit that cannot change the meaning (line endings, BOM) changing the outcome

Bad cases are written to --out (one folder each, with the file and the command to reproduce).

  python tools/fuzz_specs.py --budget 1000 --seed 1 --jobs 2
"""
from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import random
import re
import resource
import selectors
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT / "tools") not in sys.path:       # the sibling tools, however this is run or imported
    sys.path.insert(0, str(ROOT / "tools"))
import fuzz_commands  # noqa: E402
import gen_specs  # noqa: E402

PRELUDE = "<prelude>"

# -- seeds ---------------------------------------------------------------------------------------------


def seeds(root: Path = ROOT) -> dict[str, str]:
    """Relative path under specs/ -> text, for every spec, plus the prelude."""
    out = {str(p.relative_to(root / "specs")): p.read_text(encoding="utf-8")
           for p in sorted((root / "specs").rglob("*.mg"))}
    out[PRELUDE] = (root / "mgdsl" / "lang" / "prelude.mg").read_text(encoding="utf-8")
    return out


def consumers(texts: dict[str, str]) -> dict[str, list[str]]:
    """For each file without a network: the specs that use it (import or `from`), directly or not.
    The prelude's users are the specs that call its units."""
    refs = {}
    for rel, text in texts.items():
        if rel == PRELUDE:
            continue
        here = Path(rel).parent
        refs[rel] = {os.path.normpath(here / m) for m in re.findall(r'(?:import|from)\s+"([^"]+)"', text)}
    users: dict[str, list[str]] = {}
    for lib in texts:
        if re.search(r"^network\s", texts[lib], re.M) and lib != PRELUDE:
            continue
        found, todo = set(), [lib]
        while todo:
            cur = todo.pop()
            for rel, r in refs.items():
                if cur in r and rel not in found:
                    found.add(rel)
                    todo.append(rel)
        if lib == PRELUDE:
            found = {r for r, t in texts.items() if r != PRELUDE and re.search(r"\b(res|resmg|bottleneck)\b", t)}
        users[lib] = sorted(r for r in found if re.search(r"^network\s", texts[r], re.M))
    return users


# -- mutations ----------------------------------------------------------------------------------------
# Each takes (rng, lines) and returns (lines, changed line indices in the new list, same_meaning).
# same_meaning: the edit cannot change what the spec means, so the outcome must not change.

LOOKALIKES = {"a": "а", "c": "с", "e": "е", "o": "о", "p": "р", "x": "х", "y": "у", "i": "і", "n": "ո",
              "-": "−", "×": "✕", "*": "∗", '"': "“", "=": "＝", " ": "\u00a0", ",": "‚", "1": "𝟏"}
ODD_SPACE = ["\x0c", "\x0b", "\u2028", "\u2029", "\x85", "\x1c", "\u200b", "\u00a0", "\t", "\x00", "\x7f"]
WORDS = ["conv", "mgconv", "pool", "drop", "fc", "maps", "upsample", "upconv", "concat", "add", "relu", "res",
         "resmg", "bottleneck", "in", "on", "off", "coarsest", "finest", "merge", "each", "same", "avg", "proj",
         "section", "unit", "network", "input", "grids", "import", "from", "n", "w", "classes", "e1", "train",
         "forward", "dropout", "x", "None", "__init__", "self", "if", "else", "ch"]
TOKENS = ["(", ")", "[", "]", ",", ";", "=", "×", "*", "/", "//", "+", "-", ":", "@", "#", '"', "\\", "on",
          "32x32", "0x0", "1x1", "2w", "w/2", "w//3", "==", ">", "ch", "if ", "else:"]
NUMBERS = ["0", "-1", "1", "2.5", "0.5", "1.0", "-0", "65536", "65537", "1000000", "99999999999",
           "1e3", "007", "3.", ".5", "10000", "10001", "255", "256", "4096", "4097", "1" + "0" * 29, "1" + "0" * 30]
SECTIONS = ["train", "forward", "eval", "input", "head", '"a..b"', '"a.b1"', '""', '"a b"', "2.5", "_x", "to",
            "state_dict", '"é"', "s1", "9" * 40]
ODD_IMPORTS = [".", "families", "nope.mg", "fifo.mg", "/dev/zero", "/dev/null", "big.mg", "binary.mg", "self",
               "latin1.mg", "../specs", "", "/"]


def _idx(rng, lines, code_only=False):
    cand = [i for i, ln_ in enumerate(lines) if ln_.strip() and (not code_only or not ln_.lstrip().startswith("#"))]
    return rng.choice(cand) if cand else 0


def m_delete(rng, lines):
    i = _idx(rng, lines, True)
    k = rng.choice([1, 1, 1, 2, 3])
    new = lines[:i] + lines[i + k:]
    return new, {max(i - 1, 0), min(i, len(new) - 1)}, False


def m_duplicate(rng, lines):
    i = _idx(rng, lines, True)
    return lines[:i + 1] + [lines[i]] + lines[i + 1:], {i, i + 1}, False


def m_swap(rng, lines):
    i = _idx(rng, lines, True)
    j = min(len(lines) - 1, i + 1) if rng.random() < 0.6 else _idx(rng, lines, True)
    new = list(lines)
    new[i], new[j] = new[j], new[i]
    return new, {i, j}, False


def m_indent(rng, lines):
    i = _idx(rng, lines, True)
    ln_ = lines[i]
    body = ln_.lstrip(" \t")
    new_indent = rng.choice(["", " ", "  ", "    ", "        ", "\t", "\t    ", "   \t", " " * 40])
    new = list(lines)
    new[i] = new_indent + body
    return new, {i, i + 1}, False        # a wrong dedent is noticed where the next line starts


def _sub_token(rng, lines, pattern, choices, code_only=True):
    cands = [(i, m) for i, ln_ in enumerate(lines) if not (code_only and ln_.lstrip().startswith("#"))
             for m in re.finditer(pattern, ln_.split("#")[0] if code_only else ln_)]
    if not cands:
        return None
    i, m = rng.choice(cands)
    rep = rng.choice(choices) if isinstance(choices, list) else choices(m.group(0))
    new = list(lines)
    new[i] = lines[i][:m.start()] + rep + lines[i][m.end():]
    return new, {i}, False


def m_number(rng, lines):
    def edge(_):
        r = rng.random()
        if r < 0.15:
            return "9" * rng.choice([25, 31, 100, 400, 4400, 6000])
        if r < 0.25:
            return f"{rng.randint(0, 999)}.{rng.randint(0, 999)}"
        return rng.choice(NUMBERS)
    return _sub_token(rng, lines, r"(?<![A-Za-z_\d.])\d+(\.\d+)?", edge)


def m_name(rng, lines):
    def perturb(w):
        r = rng.random()
        if r < 0.4:
            return rng.choice(WORDS)
        if r < 0.6 and len(w) > 1:
            k = rng.randrange(len(w))
            return w[:k] + w[k + 1:]
        if r < 0.8:
            return w + rng.choice(["s", "1", "_", "2", "x"])
        return w.upper()
    return _sub_token(rng, lines, r"(?<![\w.\"])[A-Za-z_]\w*", perturb)


def m_shadow(rng, lines):
    """Give a name a second meaning: a parameter named like a pyramid or a value word, a pyramid
    named like a parameter, a unit named like a layer or ending in digits, a parameter twice."""
    new = list(lines)
    net = next((i for i, ln_ in enumerate(lines) if ln_.startswith("network ")), None)
    saved = [m.group(1) for ln_ in lines for m in [re.match(r"\s*(\w+)\s*=", ln_)] if m]
    params = re.findall(r"[(,]\s*(\w+)\s*=", lines[net]) if net is not None else []
    r = rng.random()
    if net is not None and r < 0.35:
        name = rng.choice(saved + params + ["off", "on", "merge", "same", "in", "avg", "none", "n", "w"] or ["x"])
        ln_ = new[net]
        new[net] = ln_.replace("(", f"({name} = {rng.choice(['3', '2', 'off'])}, ", 1) if "(" in ln_ and "from" not in ln_ \
            else ln_ + f" ({name} = 3)"
        return new, {net}, False
    if r < 0.6 and params:
        i = _idx(rng, lines, True)
        new.insert(i + 1, f"{rng.choice(params)} = conv")
        return new, {i + 1}, False
    if r < 0.8:
        uname = rng.choice(["conv1", "conv", "res", "resmg", "pool2", "fc1", "b", "u1", "in"])
        at = net if net is not None else 0
        new[at:at] = [f"unit {uname}(w = 4):", "    conv w"]
        i = _idx(rng, new[at + 2:], True) + at + 2 if len(new) > at + 2 else at
        new.insert(i + 1, uname)
        return new, {at, at + 1, i + 1}, False
    units = [i for i, ln_ in enumerate(lines) if ln_.startswith("unit ") and "(" in ln_]
    if units:
        i = rng.choice(units)
        m = re.search(r"\((\w+)", lines[i])
        if m:
            new[i] = lines[i].replace("(", f"({m.group(1)}, ", 1)
            return new, {i}, False
    return None


def m_lookalike(rng, lines):
    i = _idx(rng, lines)
    ln_ = lines[i]
    spots = [k for k, ch in enumerate(ln_) if ch in LOOKALIKES]
    if not spots:
        return None
    k = rng.choice(spots)
    new = list(lines)
    new[i] = ln_[:k] + LOOKALIKES[ln_[k]] + ln_[k + 1:]
    return new, {i}, False


def m_odd_space(rng, lines):
    i = _idx(rng, lines)
    ln_ = lines[i]
    k = rng.randint(0, len(ln_))
    new = list(lines)
    new[i] = ln_[:k] + rng.choice(ODD_SPACE) + ln_[k:]
    return new, {i}, False


def m_token(rng, lines):
    i = _idx(rng, lines, True)
    ln_ = lines[i]
    k = rng.randint(0, len(ln_))
    new = list(lines)
    r = rng.random()
    if r < 0.5:
        new[i] = ln_[:k] + rng.choice(TOKENS) + ln_[k:]
    else:
        j = min(len(ln_), k + rng.randint(1, 6))
        new[i] = ln_[:k] + (rng.choice(TOKENS) if r < 0.75 else "") + ln_[j:]
    return new, {i}, False


def m_nesting(rng, lines):
    depth = rng.choice([10, 63, 64, 65, 99, 100, 101, 200, 600, 3000])
    form = rng.choice(["paren", "list", "minus", "chain", "comment"])
    body = {"paren": "(" * depth + "8" + ")" * depth, "list": "[" * depth + "8" + "]" * depth,
            "minus": "-" * depth + "8", "chain": "8" + "+1" * depth,
            "comment": "8  # " + "(" * depth}[form]
    res = _sub_token(rng, lines, r"(?<![A-Za-z_\d.])\d+(?![\dx.])", [body])
    return res


def m_repeat(rng, lines):
    """Put a repeat count in front of a layer, or a chain of units repeating each other."""
    code = [i for i, ln_ in enumerate(lines) if ln_.strip() and not ln_.lstrip().startswith(("#", "network", "input",
                                                                                     "grids", "import", "unit",
                                                                                     "section"))]
    if not code:
        return None
    i = rng.choice(code)
    new = list(lines)
    if rng.random() < 0.7:
        ind = lines[i][:len(lines[i]) - len(lines[i].lstrip())]
        k = rng.choice(["0", "2", "2.5", "0.5", "10000", "10001", "65", "(n)", "n*n", "-1", "9" * 40])
        new[i] = f"{ind}{k} × {lines[i].lstrip()}"
        return new, {i}, False
    net = next((j for j, ln_ in enumerate(lines) if ln_.startswith("network ")), 0)
    bomb = ["unit zz3():", "    0 × conv", "unit zz2():", "    10000 × zz3", "unit zz1():", "    10000 × zz2"]
    new[net:net] = bomb
    use = i + len(bomb) + 1
    new.insert(use, "10000 × zz1")
    return new, set(range(net, net + len(bomb))) | {use}, False      # the inserted units are changed lines too


CONDITIONS = ["on", "off", "yes", "1 == 1", "n > 1", "n", "w", "nope", "ch > 3", "ch == w", "[1, 2]", "n ==",
              "w >= 8", "merge", "in", "shortcut == proj", "2.5", "if", "not on", "on and n > 1", "off or nope", "and"]


def m_block(rng, lines):
    """Put a line in an `if` block (a condition that holds, fails, is no switch or names nothing), maybe with an
    `else`; or write an `else:` where no `if` comes before it."""
    code = [i for i, ln_ in enumerate(lines) if ln_.strip() and not ln_.lstrip().startswith(("#", "network", "input",
                                                                                     "grids", "import", "unit",
                                                                                     "section", "if ", "else"))]
    if not code:
        return None
    i = rng.choice(code)
    ind = lines[i][:len(lines[i]) - len(lines[i].lstrip())]
    new = list(lines)
    if rng.random() < 0.15:
        new.insert(i, f"{ind}else:")
        return new, {i}, False
    block = [f"{ind}if {rng.choice(CONDITIONS)}:", f"{ind}    {lines[i].lstrip()}"]
    if rng.random() < 0.3:
        block += [f"{ind}else:", f"{ind}    {rng.choice(['relu', 'conv 8', lines[i].lstrip()])}"]
    new[i:i + 1] = block
    return new, set(range(i, i + len(block))), False


def m_section(rng, lines):
    i = _idx(rng, lines, True)
    new = list(lines)
    new.insert(i + 1, f"section {rng.choice(SECTIONS)}")
    return new, {i + 1}, False


def m_import(rng, lines):
    target = rng.choice(ODD_IMPORTS)
    i = rng.choice([0, _idx(rng, lines)])
    new = list(lines)
    if target == "self":
        target = "__self__"
    word = "import" if rng.random() < 0.8 else None
    if word:
        new.insert(i, f'import "{target}"')
        return new, {i}, False
    net = next((j for j, ln_ in enumerate(lines) if ln_.startswith("network ")), None)
    if net is None:
        return None
    new[net] = re.sub(r'network ("[^"]*")( from "[^"]*")?', lambda m: f'network {m.group(1)} from "{target}"',
                      lines[net], count=1)
    return new, {net}, False


# whole-file edits that cannot change the meaning: the outcome must stay the same
def m_line_endings(rng, lines):
    style = rng.choice(["\r\n", "\r", "mixed", "bom", "bom+crlf", "no-final-newline", "trailing-space",
                        "ff-lines", "blank-lines"])
    text = "\n".join(lines) + "\n"
    if style == "\r\n":
        text = text.replace("\n", "\r\n")
    elif style == "\r":
        text = text.replace("\n", "\r")
    elif style == "mixed":
        text = "".join(ln_ + rng.choice(["\n", "\r\n", "\r"]) for ln_ in lines)
    elif style == "bom":
        text = "\ufeff" + text
    elif style == "bom+crlf":
        text = "\ufeff" + text.replace("\n", "\r\n")
    elif style == "no-final-newline":
        text = text.rstrip("\n")
    elif style == "trailing-space":
        text = "\n".join(ln_ + (" \t" if ln_.strip() else "") for ln_ in lines) + "\n"
    elif style == "ff-lines":
        text = "\n".join((ln_ + " \x0c") if ln_.strip() and not ln_.lstrip().startswith("#") else ln_ for ln_ in lines) + "\n"
    else:
        text = "\n".join(ln_ + "\n" if ln_.startswith(("network", "unit")) else ln_ for ln_ in lines) + "\n"
    return text, set(), True


MUTATIONS = {
    "delete": (m_delete, 8), "duplicate": (m_duplicate, 6), "swap": (m_swap, 6), "indent": (m_indent, 6),
    "number": (m_number, 14), "name": (m_name, 12), "shadow": (m_shadow, 6), "lookalike": (m_lookalike, 5),
    "odd-space": (m_odd_space, 5), "token": (m_token, 10), "nesting": (m_nesting, 4), "repeat": (m_repeat, 5),
    "section": (m_section, 3), "import": (m_import, 4), "line-endings": (m_line_endings, 6), "block": (m_block, 5),
}


@dataclass
class Mutant:
    index: int
    file: str                     # relative to specs/, or PRELUDE
    kinds: list[str]
    text: str
    changed: set[int]             # 1-based lines of the new text
    same_meaning: bool
    source: str = "mutant"        # or "generated" (tools/gen_specs.py): no changed line to be on


def make_mutant(texts: dict[str, str], files: list[str], seed: int, index: int) -> Mutant:
    rng = random.Random(f"{seed}-{index}")
    while True:
        f = rng.choice(files)
        lines = texts[f].split("\n")
        if lines and lines[-1] == "":
            lines.pop()
        kinds, changed, same = [], set(), True
        steps = 1 if rng.random() < 0.75 else 2
        text = None
        for _ in range(steps):
            names, weights = zip(*((k, w) for k, (_, w) in MUTATIONS.items()))
            kind = rng.choices(names, weights)[0]
            if kind == "line-endings" and kinds:
                continue
            res = MUTATIONS[kind][0](rng, lines)
            if res is None:
                continue
            out, ch, s = res
            kinds.append(kind)
            if isinstance(out, str):          # a whole-file edit: the last step
                text = out
                same = same and s
                break
            # earlier changes keep their lines only approximately after inserts/deletes: keep both
            changed = {c for c in changed if c < len(out)} | ch
            lines, same = out, False
        if not kinds:
            continue
        if text is None:
            text = "\n".join(lines) + "\n"
        return Mutant(index, f, kinds, text, {c + 1 for c in changed}, same and not changed)


# -- the worker: runs `mgdsl check` on mutants, in its own copy of specs/ ------------------------------

def _worker_tree(base: Path) -> Path:
    tree = base / "specs"
    shutil.copytree(ROOT / "specs", tree)
    (base / "big.mg").write_bytes(b"# a comment line to pad the file out\n" * 40_000)      # 1.5 MB
    (base / "binary.mg").write_bytes(bytes(range(256)) * 64)
    (base / "latin1.mg").write_bytes('# caf\xe9\nunit u():\n    conv\n'.encode("latin-1"))
    for d in (tree, *[p for p in tree.rglob("*") if p.is_dir()]):
        for name in ("big.mg", "binary.mg", "latin1.mg"):
            try:
                os.symlink(base / name, d / name)
            except FileExistsError:
                pass
        if hasattr(os, "mkfifo"):
            os.mkfifo(d / "fifo.mg")
    return tree


def _check(path: str) -> tuple[int, str]:
    """`mgdsl check -q PATH`: its exit status and what it printed to stderr."""
    from mgdsl.cli import main
    err = io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
        try:
            rc = main(["check", "-q", path])
        except MemoryError:
            rc = -2
            err.write("MemoryError\n")
        except RecursionError:
            rc = -3
            err.write("RecursionError escaped main()\n")
    return rc, err.getvalue()


def worker_main(base: str, memory_mb: int):
    if memory_mb:                       # the soft limit only: the torch helper sets its own
        resource.setrlimit(resource.RLIMIT_AS, (memory_mb << 20, resource.getrlimit(resource.RLIMIT_AS)[1]))
    proto = os.fdopen(os.dup(1), "w", buffering=1)
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 1)
    base = Path(base)
    tree = _worker_tree(base)
    os.chdir(base)
    set_prelude = fuzz_commands.prelude_seam()
    helper = [None]                     # the torch helper, started by the first step that needs it
    out_dir = base / "out"
    out_dir.mkdir()

    def start(label: str):
        proto.write(json.dumps({"start": label}) + "\n")

    for line in sys.stdin:
        task = json.loads(line)
        set_prelude(None)
        target, original = None, None
        if task["file"] == PRELUDE:
            set_prelude(task["text"])
        else:
            target = tree / task["file"]
            original = target.read_bytes() if target.exists() else None
            with open(target, "w", encoding="utf-8", newline="", errors="surrogatepass") as f:
                f.write(task["text"].replace("__self__", target.name))
        results, outcomes = [], []
        try:
            for path in task["checks"]:
                start(path)
                t0, c0 = time.perf_counter(), time.process_time()
                rc, err = _check(path)
                results.append({"path": path, "rc": rc, "err": err[-20000:], "secs": time.perf_counter() - t0,
                                "cpu": time.process_time() - c0})
            if set(task.get("commands", ["check"])) - {"check"}:
                outcomes = _other_commands(task, results, target, base, out_dir, start, set_prelude, helper,
                                           memory_mb)
        finally:
            if target is not None:
                if original is None:
                    target.unlink(missing_ok=True)
                else:
                    target.write_bytes(original)
                    os.chmod(target, 0o644)
        rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        proto.write(json.dumps({"done": results, "commands": outcomes, "rss_kb": rss}) + "\n")


def _other_commands(task, results, target, base, out_dir, start, set_prelude, helper, memory_mb) -> list[dict]:
    """Every command but the text check on the task's file (tools/fuzz_commands.py); their outcomes."""
    fc = fuzz_commands
    cfg = fc.Sampling(**task.get("sampling", {}))
    runner = fc.Runner(base, cfg, start, random.Random(f"{task['seed']}-{task['index']}-{task.get('source')}-commands"),
                       prelude=lambda: task["text"] if target is None else None, helper=helper[0],
                       limit=task.get("limit", 10.0), memory_mb=memory_mb)
    commands = set(task["commands"])
    own = None if target is None else os.path.join("specs", task["file"])
    text_lines = _norm_lines(task["text"] if own is None else task["text"].replace("__self__", target.name))
    is_network = any(ln.startswith("network ") for ln in text_lines)
    lines = {os.path.normpath(own if own else "mgdsl/prelude.mg"): text_lines}
    paths = [r["path"] for r in results]
    run_on = paths if is_network or own is None else [p for p in paths if p != own] or paths
    meaning_paths = ([own] if is_network else run_on[:1]) if own else run_on[:1]
    fmt_path, apply = own, None
    if own is None:                       # the prelude: format a copy, and read the copy as the prelude
        fmt_path = str(base / "prelude-fmt.mg")
        Path(fmt_path).write_text(task["text"], encoding="utf-8", newline="", errors="surrogatepass")
        apply = set_prelude
    try:
        fc.judge_all(runner, task, run_on, results, lines, commands, out_dir, fmt_path, meaning_paths, apply)
    finally:
        set_prelude(task["text"] if own is None else None)
        helper[0] = runner.helper
    return [o.__dict__ for o in runner.outcomes]


# -- classification -----------------------------------------------------------------------------------
HEAD = re.compile(r"^(?P<path>[^\n]*?):(?P<line>\d+):(?P<col>\d+): (?P<kind>error|warning|note): (?P<msg>.*)$", re.M)


def _norm_lines(text: str) -> list[str]:
    if text.startswith("\ufeff"):
        text = text[1:]
    return text.replace("\r\n", "\n").replace("\r", "\n").split("\n")


def lines_of(m: Mutant) -> list[str]:
    """The mutant's lines as the worker wrote them (a file's import of itself names it; the prelude is
    given as it is)."""
    return _norm_lines(m.text if m.file == PRELUDE else m.text.replace("__self__", os.path.basename(m.file)))


def _unit_block(lines: list[str], line: int) -> set[int]:
    """The 1-based lines of the unit definition that holds `line` (header and body), or nothing."""
    if not 0 < line <= len(lines):
        return set()
    start = line
    while start > 0 and not lines[start - 1].startswith("unit "):
        if lines[start - 1].strip() and not lines[start - 1][:1].isspace() and not lines[start - 1].startswith("#"):
            return set()                   # a top-level line comes first: not in a unit
        start -= 1
    if start == 0:
        return set()
    end = line
    while end < len(lines) and (not lines[end].strip() or lines[end][:1].isspace()):
        end += 1
    return set(range(start, end + 1))


def classify(m: Mutant, res: dict, original: dict | None, base: Path) -> tuple[str, str]:
    """('valid'|'located'|'explained'|'bad', why) for one check of one mutant."""
    rc, err = res["rc"], res["err"]
    if rc == 0:
        return "valid", ""
    if rc != 1:
        return "bad", f"exit {rc}"
    if m.same_meaning:
        if original is not None and original["rc"] == 0:
            return "bad", "an edit that keeps the meaning made a valid spec fail"
    heads = list(HEAD.finditer(err))
    errors = [h for h in heads if h["kind"] == "error"]
    if not errors:
        if err.startswith("mgdsl: error:"):
            return "bad", "an error without a location"
        return "bad", "no located error in the output"
    e = errors[0]
    mutated = "mgdsl/prelude.mg" if m.file == PRELUDE else os.path.normpath(os.path.join("specs", m.file))

    def same_file(p):
        return os.path.normpath(p) == mutated or os.path.normpath(os.path.relpath(p, base) if os.path.isabs(p)
                                                                    else p) == mutated
    # the quoted line must be the reported line of the file as the grammar reads it
    block = err[e.end():].split("\n")
    if same_file(e["path"]) and len(block) > 1 and " | " in block[1]:
        quoted = block[1].split(" | ", 1)[1]
        lines = lines_of(m)
        want = lines[int(e["line"]) - 1].expandtabs(1) if int(e["line"]) <= len(lines) else ""
        q = quoted[3:] if quoted.startswith("...") else quoted
        q = q[:-3] if q.endswith("...") and not want.endswith("...") else q
        if q not in want:
            return "bad", f"quoted line {quoted[:60]!r} is not line {e['line']} ({want[:60]!r})"
    if m.same_meaning:
        return "located", ""              # the original failed as well
    lines_at = [(h["path"], int(h["line"])) for h in heads if h["kind"] in ("error", "note")
                and heads.index(h) <= heads.index(e) + 40]
    if any(same_file(p) and ln in m.changed for p, ln in lines_at):
        return "located", ""
    if not same_file(e["path"]):
        # a spec that uses the mutated file, or a file the mutant newly names (an import)
        return "explained", ""
    line = int(e["line"])
    if m.changed and any(same_file(p) and ln > min(m.changed) for p, ln in lines_at):
        return "explained", ""            # later lines depend on earlier ones (or a note is on one)
    block = _unit_block(lines_of(m), line)
    if block and any(ln in block for ln in m.changed):
        return "explained", ""            # a unit body runs again on what its later lines made
    msg = e["msg"]
    if line == 1 and ("defines no network" in msg or "import each other" in msg):
        return "explained", ""            # nothing to point at: the network line is gone
    if "has no input" in msg and lines_of(m)[line - 1].startswith("network"):
        return "explained", ""            # the input line is gone or mangled: it belongs after this line
    return "bad", f"error at line {line}, the mutation changed {sorted(m.changed)}"


def classify_generated(m: Mutant, res: dict) -> tuple[str, str]:
    """A generated spec has no changed line: it checks, or its first error is located inside the file
    (or in the prelude with a note inside the file) and quotes the line it names."""
    rc, err = res["rc"], res["err"]
    if rc == 0:
        return "valid", ""
    if rc != 1:
        return "bad", f"exit {rc}"
    heads = list(HEAD.finditer(err))
    errors = [h for h in heads if h["kind"] == "error"]
    if not errors:
        return "bad", "an error without a location" if err.startswith("mgdsl: error:") else "no located error"
    e = errors[0]
    mine = os.path.normpath(os.path.join("specs", m.file))
    lines = lines_of(m)
    notes = [h for h in heads[heads.index(e) + 1:] if h["kind"] == "note"]
    if os.path.normpath(e["path"]) != mine:
        if any(os.path.normpath(h["path"]) == mine for h in notes):
            return "located", ""
        return "bad", f"error in {e['path']} with no note in the spec"
    line, col = int(e["line"]), int(e["col"])
    if not 1 <= line <= max(len(lines), 1) or not 1 <= col <= len(lines[line - 1]) + 1:
        return "bad", f"error at {line}:{col}, outside the file ({len(lines)} lines)"
    if lines[line - 1].endswith(gen_specs.SURE):
        return "bad", f"refused a line that must check: {e['msg'][:80]}"
    block = err[e.end():].split("\n")
    if len(block) > 1 and " | " in block[1]:
        quoted = block[1].split(" | ", 1)[1]
        want = lines[line - 1].expandtabs(1)
        q = quoted[3:] if quoted.startswith("...") else quoted
        q = q[:-3] if q.endswith("...") and not want.endswith("...") else q
        if q not in want:
            return "bad", f"quoted line {quoted[:60]!r} is not line {line} ({want[:60]!r})"
    return "located", ""


# -- the driver ---------------------------------------------------------------------------------------
def signature(cmd: str, why: str) -> str:
    """A bad outcome's class: its command and reason with the numbers and quoted parts taken out."""
    why = _shown(why)
    why = re.sub(r"'[^']*'|\"[^\"]*\"|\([^)]*\)", "…", why)
    return f"{cmd}: " + re.sub(r"\d+(\.\d+)?", "N", why)[:90]


@dataclass
class Stats:
    outcomes: dict = field(default_factory=lambda: {"valid": 0, "located": 0, "explained": 0, "bad": 0})
    generated: dict = field(default_factory=lambda: {"valid": 0, "located": 0, "bad": 0})
    originals: dict = field(default_factory=lambda: {"valid": 0, "located": 0, "explained": 0, "bad": 0})
    checks: int = 0
    bad: list = field(default_factory=list)
    peak_rss_kb: int = 0
    slowest: float = 0.0            # wall-clock seconds of one check (inflated on a busy machine)
    slowest_cpu: float = 0.0        # CPU seconds of one check: what --time-limit bounds
    by_kind: dict = field(default_factory=dict)
    commands: dict = field(default_factory=dict)    # command -> {"n", "bad", "cpu" (slowest), "cpu_total"}
    classes: dict = field(default_factory=dict)     # signature() -> {"n", "first": case}
    stopped_early: bool = False
    wall: float = 0.0


class Worker:
    def __init__(self, memory_mb: int):
        self.dir = tempfile.mkdtemp(prefix="mgdsl-fuzz-")
        self.p = subprocess.Popen([sys.executable, __file__, "--worker", self.dir, "--memory-mb", str(memory_mb)],
                                  stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                                  text=True, cwd=ROOT)
        self.task = None
        self.deadline = 0.0
        self.current = None
        self.buf, self.eof = b"", False
        self.cpu_at_start = 0.0

    def send(self, mutant: Mutant, checks: list[str], limit: float, extra: dict):
        self.task = (mutant, checks)
        self.p.stdin.write(json.dumps({"file": mutant.file, "text": mutant.text, "checks": checks,
                                       "index": mutant.index, "source": mutant.source, **extra}) + "\n")
        self.p.stdin.flush()
        self.deadline = time.monotonic() + max(3 * limit, 120) + 30   # the first check also covers the start
        self.current = None

    def kill(self):
        with contextlib.suppress(ProcessLookupError):
            self.p.kill()
        self.p.wait()
        shutil.rmtree(self.dir, ignore_errors=True)


def _cpu_seconds(pid: int) -> float:
    """CPU time a process has used (Linux /proc; elsewhere 0, and only the wall clock limits a check)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError):
        return 0.0


def _paths_for(m: Mutant, users: dict[str, list[str]], rng: random.Random) -> list[str]:
    own = [] if m.file == PRELUDE else [os.path.join("specs", m.file)]
    use = users.get(m.file, [])
    if len(use) > 3:
        use = rng.sample(use, 3)
    return own + [os.path.join("specs", u) for u in use]


# where a generated spec is written in the worker's copy of specs/: mostly gen.mg, sometimes a name with a
# space, non-ASCII letters, brackets, or a byte that is not UTF-8 (as Python shows it: a lone surrogate)
GENERATED_FILES = ["gen.mg"] * 12 + ["gen space.mg", "gén🙂.mg", "[gen].mg", "gen\udcff.mg"]


def make_generated(seed: int, index: int) -> Mutant:
    rng = random.Random(f"{seed}-{index}-generated")
    text = gen_specs.generate(rng)
    return Mutant(index, rng.choice(GENERATED_FILES), ["generated"], text, set(), False, "generated")


def _shown(s: str) -> str:
    """A path or message as printable UTF-8 (a file name that is not UTF-8 holds lone surrogates)."""
    return s.encode("utf-8", "backslashreplace").decode("utf-8")


def _interleave(a: list, b: list) -> list:
    """The items of both lists, spread evenly (so that a run stopped early has done some of each)."""
    tagged = [((i + 0.5) / len(a), 0, x) for i, x in enumerate(a)] + [((i + 0.5) / len(b), 1, x) for i, x in enumerate(b)]
    return [x for _, _, x in sorted(tagged, key=lambda t: (t[0], t[1]))]


def run(budget: int, seed: int = 0, jobs: int = 1, limit: float = 10.0, memory_mb: int = 1024,
        out: str | None = None, progress: bool = True, only: list[int] | None = None,
        max_minutes: float | None = None, commands=("check",), generate: int = 0,
        only_generated: list[int] | None = None, sampling: dict | None = None, originals: bool = False) -> Stats:
    """Fuzz: `budget` mutants (or those of `only`) and `generate` generated specs (or those of
    `only_generated`), each through `check` and every other command named in `commands`; with
    `originals`, first every seed file as it is (all of them must pass every command)."""
    texts = seeds()
    files = sorted(texts)
    users = consumers(texts)
    stats = Stats()
    baseline: dict[str, dict] = {}        # the unmutated outcome of each checked path
    mutants = list(only) if only else ([] if only_generated else list(range(budget)))
    gens = list(only_generated) if only_generated else ([] if only else list(range(generate)))
    cases = _interleave([("mutant", i) for i in mutants], [("generated", i) for i in gens])
    if originals:
        cases = [("original", i) for i in range(len(files))] + cases
    todo = iter(cases)                    # cases are made as workers free up: memory stays flat
    left = len(cases)
    extra = {"seed": seed, "commands": sorted(set(commands) | {"check"}), "sampling": sampling or {}, "limit": limit}
    workers = [Worker(memory_mb) for _ in range(max(1, jobs))]
    sel = selectors.DefaultSelector()
    for w in workers:
        sel.register(w.p.stdout, selectors.EVENT_READ, w)
    pending = 0
    t0 = time.monotonic()
    outdir = Path(out) if out else None
    flags = f"--seed {seed} --commands {','.join(extra['commands'])}" + "".join(
        f" --{k.replace('_', '-')} {v}" for k, v in (sampling or {}).items())

    def record_bad(m: Mutant, why: str, err: str, path: str, cmd: str = "check"):
        sig = signature(cmd, why)
        cls = stats.classes.setdefault(sig, {"n": 0, "first": f"{m.source} {m.index}"})
        cls["n"] += 1
        stats.bad.append({"index": m.index, "source": m.source, "file": _shown(m.file), "kinds": m.kinds,
                          "why": _shown(why), "path": _shown(path), "cmd": cmd, "class": sig})
        if outdir is None:
            return
        d = outdir / f"bad-{'' if m.source == 'mutant' else m.source[:4] + '-'}{m.index:06d}"
        d.mkdir(parents=True, exist_ok=True)
        name = "prelude.mg" if m.file == PRELUDE else m.file.replace("/", "__")
        with open(d / name, "w", encoding="utf-8", newline="", errors="surrogatepass") as f:
            f.write(m.text)
        again = {"generated": f"--only-generated {m.index}", "original": "--originals --budget 0"}.get(
            m.source, f"--only {m.index}")
        with open(d / "README.txt", "a", encoding="utf-8", errors="backslashreplace") as f:
            f.write(f"{m.source} {m.index} of seed {seed} ({', '.join(m.kinds)}) of {m.file}; changed lines "
                    f"{sorted(m.changed)}\n"
                    f"outcome: {why} [{cmd}: {path}]\n"
                    f"reproduce: python tools/fuzz_specs.py {flags} {again} --jobs 1 --out DIR\n"
                    f"or copy {name} to specs/{m.file} (the prelude: mgdsl/lang/prelude.mg) and run: "
                    f"{path if path.startswith('mgdsl ') else 'mgdsl check ' + path}\n\n{err}\n\n")

    rank = {"valid": 0, "explained": 1, "located": 2, "bad": 3}

    def finish(w: Worker, results: list[dict] | None, outcomes: list[dict] | None, failure: str | None):
        m, checks = w.task
        stats.by_kind.setdefault("+".join(m.kinds), {"n": 0, "bad": 0})["n"] += 1
        worst = "valid"
        if failure:
            worst = "bad"
            label = w.current or checks[0]
            cmd = label.split(":", 1)[0] if ": " in label else "check"
            record_bad(m, failure, "", label, cmd)
        else:
            for r in results:
                stats.checks += 1
                stats.slowest = max(stats.slowest, r["secs"])
                stats.slowest_cpu = max(stats.slowest_cpu, r["cpu"])
                if r["cpu"] > limit:
                    kind, why = "bad", f"took {r['cpu']:.1f}s of CPU time"
                elif m.source == "original":
                    kind, why = ("valid", "") if r["rc"] == 0 else ("bad", f"exit {r['rc']} on a spec of the project")
                elif m.source == "generated":
                    kind, why = classify_generated(m, r)
                else:
                    kind, why = classify(m, r, baseline.get(r["path"]), Path(w.dir))
                if kind == "bad":
                    record_bad(m, why, r["err"], r["path"])
                worst = max(worst, kind, key=rank.get)
            for o in outcomes or []:
                c = stats.commands.setdefault(o["cmd"], {"n": 0, "bad": 0, "cpu": 0.0, "cpu_total": 0.0})
                c["n"] += 1
                c["cpu"] = max(c["cpu"], o["cpu"])
                c["cpu_total"] += o["cpu"]
                why = o["bad"] or (f"took {o['cpu']:.1f}s of CPU time" if o["cpu"] > limit else None)
                if why:
                    c["bad"] += 1
                    record_bad(m, why, o["err"], "mgdsl " + " ".join(o["argv"]), o["cmd"])
                    worst = "bad"
        tally = stats.generated if m.source == "generated" else stats.outcomes if m.source == "mutant" else \
            stats.originals
        tally["located" if worst == "explained" and m.source == "generated" else worst] += 1
        if worst == "bad":
            stats.by_kind["+".join(m.kinds)]["bad"] += 1

    # the unmutated outcome of every path, for edits that must not change it
    cwd = os.getcwd()
    try:
        os.chdir(ROOT)
        for rel in files:
            if rel != PRELUDE:
                p = os.path.join("specs", rel)
                baseline[p] = {"rc": _check(p)[0]}
    finally:
        os.chdir(cwd)

    done = 0
    hang = max(3 * limit, 120)    # wall-clock seconds before a check counts as hung; CPU time is bounded by limit
    try:
        while left or pending:
            if max_minutes and left and time.monotonic() - t0 > 60 * max_minutes:
                left = 0                  # out of time: finish what is running, start nothing new
                stats.stopped_early = True
            for w in workers:
                if w.task is None and left:
                    source, i = next(todo)
                    left -= 1
                    if source == "generated":
                        m = make_generated(seed, i)
                        paths = [os.path.join("specs", m.file)]
                    elif source == "original":
                        m = Mutant(i, files[i], ["original"], texts[files[i]], set(), True, "original")
                        paths = _paths_for(m, users, random.Random(f"{seed}-{m.index}-users"))
                    else:
                        m = make_mutant(texts, files, seed, i)
                        paths = _paths_for(m, users, random.Random(f"{seed}-{m.index}-users"))
                    w.send(m, paths, limit, extra)
                    pending += 1
            now = time.monotonic()
            timeout = max(0.0, min((w.deadline for w in workers if w.task), default=now + 1) - now)
            for key, _ in sel.select(timeout=min(timeout, 1.0)):
                w = key.data
                data = os.read(w.p.stdout.fileno(), 1 << 20)     # raw reads: no line hides in a buffer
                if not data:
                    w.eof = True
                    continue
                w.buf += data
                while b"\n" in w.buf:
                    line, w.buf = w.buf.split(b"\n", 1)
                    msg = json.loads(line)
                    if "start" in msg:
                        w.current = msg["start"]
                        w.deadline = time.monotonic() + hang
                        w.cpu_at_start = _cpu_seconds(w.p.pid)
                        continue
                    stats.peak_rss_kb = max(stats.peak_rss_kb, msg["rss_kb"])
                    finish(w, msg["done"], msg.get("commands"), None)
                    w.task = None
                    pending -= 1
                    done += 1
                    if progress and done % 200 == 0:
                        rate = done / (time.monotonic() - t0)
                        print(f"  {done}/{len(cases)} cases, {len(stats.bad)} bad outcomes, {rate:.1f}/s",
                              file=sys.stderr, flush=True)
            now = time.monotonic()
            for i, w in enumerate(workers):
                dead = w.eof or w.p.poll() is not None
                over = w.task and w.current and _cpu_seconds(w.p.pid) - w.cpu_at_start > limit + 1
                if w.task and (now > w.deadline or dead or over):
                    why = (f"over {limit:.0f}s of CPU time" if over else
                           f"over {hang:.0f}s of wall-clock time (hung)" if not dead else
                           f"worker died (exit {w.p.returncode}; memory limit {memory_mb} MB?)")
                    finish(w, None, None, why)
                    pending -= 1
                    done += 1
                    sel.unregister(w.p.stdout)
                    w.kill()
                    workers[i] = Worker(memory_mb)
                    sel.register(workers[i].p.stdout, selectors.EVENT_READ, workers[i])
    finally:
        for w in workers:
            with contextlib.suppress(Exception):
                w.p.stdin.close()
            w.kill()
    stats.wall = time.monotonic() - t0
    return stats


def summary(stats: Stats, budget: int = 0) -> str:
    o, g = stats.outcomes, stats.generated
    errors = o["located"] + o["explained"] + o["bad"]
    lines = [(f"{sum(stats.originals.values())} project specs as they are, {stats.originals['bad']} bad; "
              if sum(stats.originals.values()) else "") + f"{sum(o.values())} mutants and {sum(g.values())} generated specs"
             f"{' (stopped by --max-minutes)' if stats.stopped_early else ''} ({stats.checks} checks) in "
             f"{stats.wall:.0f}s",
             f"mutants: {o['valid']} valid, {o['located']} errors on a changed line, {o['explained']} errors on a "
             f"line the change feeds, {o['bad']} bad",
             f"generated: {g['valid']} valid, {g['located']} located errors, {g['bad']} bad",
             f"errors located on a changed line: {o['located'] / max(errors, 1):.1%}; slowest check "
             f"{stats.slowest_cpu:.2f}s CPU ({stats.slowest:.2f}s wall); peak worker memory "
             f"{stats.peak_rss_kb / 1024:.0f} MB"]
    if stats.commands:
        lines.append("commands: " + "; ".join(f"{k} {v['n']} runs, {v['bad']} bad, slowest {v['cpu']:.2f}s CPU, "
                                              f"{v['cpu_total']:.0f}s CPU in all"
                                              for k, v in sorted(stats.commands.items())))
    if stats.classes:
        lines.append("bad outcomes by class (count, first case):")
        for sig, c in sorted(stats.classes.items(), key=lambda kv: -kv[1]["n"]):
            lines.append(f"  {c['n']:5d}  {sig}   [{c['first']}]")
    if stats.bad:
        lines.append("bad:")
        for b in stats.bad[:30]:
            lines.append(f"  {b['source']} #{b['index']} {b['file']} ({'+'.join(b['kinds'])}): {b['why']} [{b['path']}]")
        if len(stats.bad) > 30:
            lines.append(f"  ... and {len(stats.bad) - 30} more")
    return "\n".join(lines)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                epilog="Exit status 0 when no case is bad.",
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--budget", type=int, default=1000, help="number of mutants (default 1000)")
    p.add_argument("--seed", type=int, default=0, help="random seed; mutant i of a seed is always the same")
    p.add_argument("--jobs", type=int, default=max(1, (os.cpu_count() or 1)), help="worker processes")
    p.add_argument("--time-limit", type=float, default=10.0,
                   help="CPU seconds one command may take (default 10); one is killed as hung after "
                        "max(3x that, 120) seconds of wall-clock time")
    p.add_argument("--memory-mb", type=int, default=1024, help="address-space limit of a worker (default 1024)")
    p.add_argument("--out", default="fuzz-bad", help="folder for the bad cases (default fuzz-bad/)")
    p.add_argument("--only", type=int, nargs="+", metavar="I", help="run only these mutant indices")
    p.add_argument("--only-generated", type=int, nargs="+", metavar="I", help="run only these generated specs")
    p.add_argument("--max-minutes", type=float, metavar="M",
                   help="start no new case after M minutes (the summary says how many ran)")
    p.add_argument("--json", metavar="FILE", help="also write the summary as JSON")
    p.add_argument("--commands", default="check", metavar="LIST",
                   help="comma-separated commands to run on every case besides check: "
                        f"{','.join(fuzz_commands.COMMANDS)}, or all (default: check)")
    p.add_argument("--generate", type=int, default=0, metavar="N",
                   help="also write N new specs with the grammar-aware generator (tools/gen_specs.py)")
    d = fuzz_commands.Sampling()
    p.add_argument("--cost-formats", type=int, default=d.cost_formats, metavar="K",
                   help=f"cost format/--by combinations per case besides json (default {d.cost_formats} of 19)")
    p.add_argument("--draw-formats", type=int, default=d.draw_formats, metavar="K",
                   help=f"draw formats per case, of svg, png, dot (default {d.draw_formats})")
    p.add_argument("--compile-run", type=float, default=d.compile_run, metavar="P",
                   help=f"share of small valid cases whose compiled code runs against build() (default {d.compile_run})")
    p.add_argument("--export", type=float, default=d.export, metavar="P",
                   help=f"share of small valid cases exported (.pt2 or .onnx) and run (default {d.export})")
    p.add_argument("--max-macs", type=float, default=d.max_macs, metavar="N",
                   help=f"'small' for running: at most N MACs after shrinking with --set (default {d.max_macs:g})")
    p.add_argument("--max-params", type=float, default=d.max_params, metavar="N",
                   help=f"... and at most N parameters (default {d.max_params:g})")
    p.add_argument("--tolerance", type=float, default=d.tolerance, metavar="T",
                   help=f"outputs may differ by T times the largest |output| (default {d.tolerance:g})")
    p.add_argument("--originals", action="store_true",
                   help="first run every spec of the project and the prelude, unchanged, through the commands")
    p.add_argument("--sarif-schema", metavar="FILE", help="validate SARIF against this JSON schema (jsonschema)")
    p.add_argument("--worker", help=argparse.SUPPRESS)
    a = p.parse_args(argv)
    if a.worker:
        worker_main(a.worker, a.memory_mb)
        return 0
    commands = set(fuzz_commands.COMMANDS) if a.commands == "all" else {c.strip() for c in a.commands.split(",") if c}
    unknown = commands - set(fuzz_commands.COMMANDS)
    if unknown:
        p.error(f"unknown commands: {', '.join(sorted(unknown))} (known: {', '.join(fuzz_commands.COMMANDS)})")
    sampling = {k: getattr(a, k) for k in ("cost_formats", "draw_formats", "compile_run", "export", "max_macs",
                                           "max_params", "tolerance", "sarif_schema") if getattr(a, k) != getattr(d, k)}
    stats = run(a.budget, a.seed, a.jobs, a.time_limit, a.memory_mb, a.out, only=a.only, max_minutes=a.max_minutes,
                commands=commands, generate=a.generate, only_generated=a.only_generated, sampling=sampling,
                originals=a.originals)
    print(summary(stats, a.budget))
    print("sampling: " + ", ".join(f"{k}={v}" for k, v in {**d.__dict__, **sampling}.items()))
    if a.json:
        Path(a.json).write_text(json.dumps({"outcomes": stats.outcomes, "generated": stats.generated,
                                            "checks": stats.checks, "commands": stats.commands,
                                            "classes": stats.classes, "sampling": {**d.__dict__, **sampling},
                                            "wall_s": stats.wall, "peak_rss_kb": stats.peak_rss_kb,
                                            "slowest_s": stats.slowest, "slowest_cpu_s": stats.slowest_cpu,
                                            "bad": stats.bad, "by_kind": stats.by_kind, "budget": a.budget,
                                            "generate": a.generate, "seed": a.seed,
                                            "mutants": sum(stats.outcomes.values()),
                                            "stopped_early": stats.stopped_early}, indent=1))
    if stats.bad and a.out:
        print(f"the bad cases are in {a.out}/", file=sys.stderr)
    return 1 if stats.bad else 0


if __name__ == "__main__":
    sys.exit(main())
