#!/usr/bin/env bash
# Does the torch floor declared in pyproject.toml (`torch>=X`) hold? Installs torch==X (the lowest
# version the declaration allows) and this checkout into a fresh virtual environment, runs the test
# suite there, then N two-process `torchrun` trainings (gloo on the CPU, as tests/test_ddp.py
# launches them), each under a time limit so that a hang at teardown counts as a failure.
#
#   tools/check_torch_floor.sh [--runs N] [--venv DIR] [--torch SPEC] [--no-suite]
#
#   --runs N      two-process trainings to run (default 10)
#   --venv DIR    use (or create) this environment instead of a temporary one, which is removed
#                 at the end; a DIR that already holds the torch version is reused as it is
#   --torch SPEC  install this instead of the floor, e.g. --torch 'torch==2.5.1' to try a candidate
#   --no-suite    only the trainings
#
# An old torch from PyPI is the CUDA build with several GB of nvidia-* wheels: check the disk first.
# Exit status 0 only if the suite passes and every training finishes.
set -u
cd "$(dirname "$0")/.."
RUNS=10 VENV="" SPEC="" SUITE=1 TIMEOUT=${FLOOR_RUN_TIMEOUT:-180}
while [ $# -gt 0 ]; do
    case "$1" in
        --runs) RUNS=$2; shift 2 ;;
        --venv) VENV=$2; shift 2 ;;
        --torch) SPEC=$2; shift 2 ;;
        --no-suite) SUITE=0; shift ;;
        -h|--help) sed -n '2,16p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
        *) echo "unknown option $1 (see --help)" >&2; exit 2 ;;
    esac
done
FLOOR=$(sed -n 's/^ *"torch>=\([0-9.]*\)[",].*/\1/p' pyproject.toml)
[ -n "$FLOOR" ] || { echo "no \"torch>=X\" line in pyproject.toml" >&2; exit 2; }
SPEC=${SPEC:-torch==$FLOOR}
WANT=$(echo "$SPEC" | sed -n 's/^torch==//p')
CLEANUP=""
if [ -z "$VENV" ]; then
    TMP=$(mktemp -d "${TMPDIR:-/tmp}/mgdsl-floor.XXXXXX"); VENV=$TMP/venv; CLEANUP=$TMP
fi
trap '[ -n "$CLEANUP" ] && rm -rf "$CLEANUP"' EXIT
echo "== declared floor: torch>=$FLOOR; installing $SPEC into $VENV"
[ -x "$VENV/bin/python" ] || python3 -m venv "$VENV" || exit 2
PY=$VENV/bin/python
have=$("$PY" -c 'import torch; print(torch.__version__.split("+")[0])' 2>/dev/null)
if [ -z "$have" ] || { [ -n "$WANT" ] && ! "$PY" - "$have" "$WANT" <<'EOF'
import sys
have, want = (tuple(int(p) for p in v.split(".")) for v in sys.argv[1:])
sys.exit(0 if have + (0,) * (3 - len(have)) == want + (0,) * (3 - len(want)) else 1)
EOF
}; then
    "$PY" -m pip install -q "$SPEC" || exit 2
fi
"$PY" -m pip install -q -e ".[test]" || exit 2
TORCH=$("$PY" -c 'import torch; print(torch.__version__)')
echo "== torch $TORCH"

suite="skipped"
if [ "$SUITE" = 1 ]; then
    echo "== test suite"
    if "$PY" -m pytest -q -x -p no:cacheprovider 2>&1 | tail -5; [ "${PIPESTATUS[0]}" = 0 ]; then
        suite="passed"
    else
        suite="FAILED"
    fi
fi

echo "== $RUNS two-process torchrun trainings (limit ${TIMEOUT}s each)"
WORK=$(mktemp -d "${TMPDIR:-/tmp}/mgdsl-floor-runs.XXXXXX")
# the BN-free network of tests/test_ddp.py, trained the way that test launches it
"$PY" -c 'import sys; sys.path.insert(0, "tests"); from test_ddp import NO_BN; print(NO_BN, end="")' \
    > "$WORK/nobn.mg" || exit 2
ok=0 hung=0 failed=0
for i in $(seq 1 "$RUNS"); do
    start=$(date +%s)
    OMP_NUM_THREADS=1 timeout -k 10 "$TIMEOUT" "$PY" -m torch.distributed.run --standalone --nproc_per_node=2 \
        -m mgdsl train "$WORK/nobn.mg" --task mnist-seg --steps 4 --batch-size 8 --train-size 32 --test-size 4 \
        --no-progress --lr 0.5 --out "$WORK/run$i" > "$WORK/run$i.log" 2>&1
    rc=$? secs=$(( $(date +%s) - start ))
    if [ $rc = 0 ]; then ok=$((ok + 1)); what="finished"
    elif [ $rc = 124 ] || [ $rc = 137 ]; then hung=$((hung + 1)); what="HUNG (killed after ${TIMEOUT}s)"
    else failed=$((failed + 1)); what="FAILED (exit $rc; log $WORK/run$i.log)"; fi
    echo "run $i: $what in ${secs}s"
done
[ $((hung + failed)) = 0 ] && rm -rf "$WORK"
echo "== torch $TORCH: suite $suite; trainings: $ok of $RUNS finished, $hung hung, $failed failed"
[ "$suite" != "FAILED" ] && [ $ok = "$RUNS" ]
