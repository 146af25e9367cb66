"""Write the editors' generated files from the language's own registries:
editors/vscode/syntaxes/mg.tmLanguage.json (the TextMate grammar). A test fails when it is stale.

    python tools/make_editor_files.py           # rewrite
    python tools/make_editor_files.py --check   # exit 1 if the file is not current
"""
import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from mgdsl.highlight import textmate_json  # noqa: E402

TEXTMATE = ROOT / "editors" / "vscode" / "syntaxes" / "mg.tmLanguage.json"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--check", action="store_true", help="only check that the file is current")
    args = ap.parse_args()
    want = textmate_json()
    have = TEXTMATE.read_text(encoding="utf-8") if TEXTMATE.exists() else None
    if args.check:
        if have != want:
            print(f"{TEXTMATE.relative_to(ROOT)} is stale: run python tools/make_editor_files.py", file=sys.stderr)
            return 1
        return 0
    if have != want:
        TEXTMATE.write_text(want, encoding="utf-8")
        print(f"wrote {TEXTMATE.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
