"""Export every spec as ONNX and as a torch.export program and check both against the eager module.

For each spec (default: every network under specs/; the files in families/ are the templates whose
defaults are members such as r-pmg-30.mg, so they are left out unless named), the plain lowering with
fresh weights (seed 0) is put in the state `warm_up` gives -- 10 Adam steps on a synthetic regression
for a network with batch norm, then batch norm statistics from two random batches of 4 -- because
purely random weights under calibrated batch norm amplify float32 rounding through a deep network
far beyond what trained weights do (docs/export.md). That module is traced once by `torch.export`
and written both as .onnx and as .pt2 by `mgdsl.backends.export` (what `mgdsl export` runs); each
file is then run at batch sizes 1 and 2, the ONNX one by onnxruntime's CPU provider and the .pt2 one
through `torch.export.load`, and compared with the eager module (rtol 1e-3, atol 1e-4). The output
rms column is the eager output's root mean square on the first input (so one can see atol is small
next to it). The error columns give the largest absolute difference and, in brackets, the largest
ratio of an element's difference to its tolerance atol + rtol * |eager output| (a pass is <= 1).
Files that define only units are listed and skipped. Prints a markdown table; exits 1 if any export
or comparison fails.

    nice -n 10 python tools/check_export.py                  # all specs (docs/export.md)
    python tools/check_export.py specs/mg-6.mg specs/mnist/pmg-11-seg.mg --set canvas=32
    python tools/check_export.py specs/beyond/*.mg --warm-up-steps 0    # calibration only (the old check)
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
import traceback
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

RTOL, ATOL = 1e-3, 1e-4


def check_one(spec: str, params: dict, folder: str, steps: int = 10) -> list:
    """[spec, output rms, onnx verdict, onnx max error, pt2 verdict, pt2 max error, seconds] for one
    spec; `steps`: warm-up steps (0: batch norm calibration only)."""
    import torch

    import mgdsl
    from mgdsl.backends.export import exported_program, metadata, write_program
    from mgdsl.errors import SpecNameError
    from mgdsl.testing import module_for_export, verify, warm_up
    t0 = time.perf_counter()
    try:
        net = mgdsl.load(spec, **params)
    except SpecNameError as e:
        if "defines no network" in e.message:
            return [spec, "", "skipped (units only)", "", "", "", ""]
        raise
    torch.manual_seed(0)
    model = warm_up(module_for_export(net, None), net.input_shape, steps=steps)
    with torch.no_grad():
        out = model(torch.randn(1, *net.input_shape, generator=torch.Generator().manual_seed(0)))
    outs = out if isinstance(out, (tuple, list)) else (out,)
    rms = torch.cat([o.flatten() for o in outs]).pow(2).mean().sqrt().item()
    row = [spec, f"{rms:.3g}"]
    try:
        program = exported_program(model, net.input_shape)
    except Exception as e:  # noqa: BLE001  (report it in the table and go on with the next spec)
        traceback.print_exc()
        why = f"{type(e).__name__}: {str(e).splitlines()[0][:80]}"
        return row + ["FAIL", why, "FAIL", why, f"{time.perf_counter() - t0:.1f}"]
    for suffix in (".onnx", ".pt2"):
        path = os.path.join(folder, Path(spec).stem + suffix)
        try:
            write_program(program, path, metadata(net, "fresh"))
            ok, err, ratio = verify(path, model, net.input_shape, (1, 2), RTOL, ATOL)
            row += ["ok" if ok else "FAIL", f"{err:.1e} ({ratio:.2f})"]
        except Exception as e:  # noqa: BLE001  (report it in the table and go on with the next spec)
            traceback.print_exc()
            row += ["FAIL", f"{type(e).__name__}: {str(e).splitlines()[0][:80]}"]
        finally:
            if os.path.exists(path):
                os.unlink(path)
    return row + [f"{time.perf_counter() - t0:.1f}"]


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("specs", nargs="*", help="spec files (default: every .mg file under specs/ outside families/)")
    ap.add_argument("--set", action="append", default=[], metavar="NAME=VALUE",
                    help="override a parameter of every spec that has it")
    ap.add_argument("--warm-up-steps", type=int, default=10, metavar="N",
                    help="Adam steps of warm_up before the check (default 10; 0: batch norm calibration only)")
    args = ap.parse_args(argv)
    specs = args.specs or sorted(str(p.relative_to(ROOT)) for p in (ROOT / "specs").rglob("*.mg")
                                 if "families" not in p.parts)
    sets = dict(s.split("=", 1) for s in args.set)
    os.chdir(ROOT)
    import mgdsl
    from mgdsl.errors import MgError
    header = ["spec", "output rms", "onnx", "onnx max error (/ tolerance)", "pt2", "pt2 max error (/ tolerance)", "seconds"]
    print("| " + " | ".join(header) + " |")
    print("|" + "|".join("---" for _ in header) + "|")
    rows, t0 = [], time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="mgdsl-export-") as folder:
        for spec in specs:
            try:
                declared = set(mgdsl.load(spec).params)
            except MgError:              # check_one reports it
                declared = set()
            params = {k: v for k, v in sets.items() if k in declared}
            row = check_one(spec, params, folder, args.warm_up_steps)
            rows.append(row)
            print("| " + " | ".join(row) + " |", flush=True)
    failed = [r[0] for r in rows if "FAIL" in (r[2], r[4])]
    checked = [r for r in rows if r[2] in ("ok", "FAIL")]
    print(f"\n{len(checked) - len(failed)} of {len(checked)} networks pass both exports at batch 1 and 2 "
          f"(rtol {RTOL:g}, atol {ATOL:g}, {args.warm_up_steps} warm-up steps); "
          f"{len(rows) - len(checked)} unit-only files skipped; "
          f"{time.perf_counter() - t0:.0f} s")
    if failed:
        print("failed: " + ", ".join(failed), file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
