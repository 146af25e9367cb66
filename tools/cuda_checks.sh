#!/usr/bin/env bash
# The GPU checks in one call, for a borrowed GPU machine with a few minutes on it (run from the
# repository root; results go to $OUT). In order:
#   1. warm torch.compile's caches for every benchmarked spec, in parallel and in the background
#      (compile time is not what the benchmark measures);
#   2. meanwhile, the CUDA test and a short bf16 training run on CUDA, stopped half-way, resumed,
#      then evaluated;
#   3. the eager benchmark (fp32 and bf16, with the ablation), then the torch.compile + bf16 one.
# Each stage has its own time limit, and the benchmarks write a JSON line per spec as they go,
# so a stage cut short still leaves its finished specs (`python tools/bench.py --report FILE`).
# STAGES picks stages (default: all), e.g. STAGES=compile for the torch.compile benchmark alone.
# A dry run on a CPU: DEVICE=cpu SPECS=specs/vgg-16.mg REPEATS=1 bash tools/cuda_checks.sh
set -u
STAGES=${STAGES:-tests train eager compile}
WARM_S=${WARM_S:-170}
COMPILE_S=${COMPILE_S:-170}
OUT=${OUT:-/tmp/cuda-checks}
DEVICE=${DEVICE:-cuda}
REPEATS=${REPEATS:-10}
PY=${PYTHON:-python3}
SPECS=${SPECS:-specs/vgg-16.mg specs/mg-16.mg specs/r-mg-22.mg specs/r-pmg-30.mg specs/mnist/pmg-11-seg.mg}
export PYTHONUNBUFFERED=1 PYTHONPATH=$PWD${PYTHONPATH:+:$PYTHONPATH}
mkdir -p "$OUT"
LOG=$OUT/log.txt
T0=$(date +%s)
stage() { echo; echo "== $1 ($(($(date +%s) - T0)) s)"; }
want() { [[ " $STAGES " == *" $1 "* ]]; }

{
stage "machine"
nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.sm,clocks.max.sm --format=csv 2>&1
$PY -c "import torch; print('torch', torch.__version__, 'cuda', torch.version.cuda)"

WARM=()
want compile && stage "warming torch.compile caches in the background" && for s in $SPECS; do
    timeout "$WARM_S" $PY tools/bench.py "$s" --device "$DEVICE" --dtypes bf16 --repeats 1 --warmup 1 \
        --no-memory --no-latency > "/tmp/warm-$(basename "$s" .mg).txt" 2>&1 &
    WARM+=($!)
done

if want tests; then
stage "CUDA tests"
timeout 120 $PY -m pytest -q -p no:cacheprovider -rs tests/test_backend.py tests/test_codegen_opt.py 2>&1 | tail -9
fi

if want train; then
stage "training on $DEVICE: bf16, stopped at step 20, resumed to 40, evaluated"
RUN=/tmp/cuda-run
rm -rf $RUN
TRAIN=(specs/mnist/pmg-11-seg.mg --task mnist-seg --steps 40 --batch-size 32 --train-size 512
       --test-size 128 --device "$DEVICE" --amp bf16 --out $RUN --no-progress --log-every 10 --eval-every 20)
timeout 150 $PY -m mgdsl train "${TRAIN[@]}" --stop-at 20 2>&1 | tail -6
timeout 150 $PY -m mgdsl train "${TRAIN[@]}" --resume 2>&1 | tail -6
timeout 60 $PY -m mgdsl eval $RUN --device "$DEVICE" 2>&1 | tail -4
cp $RUN/metrics.jsonl "$OUT/train-metrics.jsonl" 2>/dev/null
fi

if want compile; then
stage "waiting for the compile warm-up"
for p in "${WARM[@]}"; do wait "$p" || echo "(a warm-up ended with status $?)"; done
for s in $SPECS; do tail -n 2 "/tmp/warm-$(basename "$s" .mg).txt"; done
fi

if want eager; then
stage "eager benchmark: fp32 and bf16, ablation"
timeout 230 $PY tools/bench.py $SPECS --device "$DEVICE" --dtypes fp32,bf16 --no-compile --ablate \
    --repeats "$REPEATS" --warmup 3 --no-latency --json "$OUT/eager.jsonl" > "$OUT/eager.md" 2>&1
echo "status $?"
fi

if want compile; then
stage "torch.compile benchmark: bf16"
timeout "$COMPILE_S" $PY tools/bench.py $SPECS --device "$DEVICE" --dtypes bf16 --repeats "$REPEATS" --warmup 2 \
    --no-memory --no-latency --json "$OUT/compile.jsonl" > "$OUT/compile.md" 2>&1
echo "status $?"
fi
stage "done"
} 2>&1 | tee "$LOG"
