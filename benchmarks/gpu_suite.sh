#!/usr/bin/env bash
# The whole GPU measurement in one go (about 6-8 minutes on an H100):
#
#   bash benchmarks/gpu_suite.sh            # results -> benchmarks/results/<gpu-slug>/
#   OUT=/some/dir bash benchmarks/gpu_suite.sh
#
# 1. speed: full-size pix2pix unet_256 (random weights), batch 1,8,32,64, over torch-fp32,
#    torch-amp (fp16), torch-compile-amp, ort-cuda (FP16 ONNX), ort-cuda-fp32 and tensorrt
#    (FP16 strongly typed engine; skipped with the reason when TensorRT is not importable);
# 2. parity: every GPU backend against PyTorch FP32 and against the sample ground truth
#    (FP32 >= 60 dB, FP16 >= 45 dB, |dSSIM| <= 0.001);
# 3. train-speed: pix2pix at batch 32, 256 px: fp32 vs bf16 vs bf16+channels_last
#    (+compile): the target is >= 2.5x FP32 eager; the two-stage U-Nets fp32 vs bf16+channels_last;
# 4. files -> files through the runtime-infer pipeline;
# 5. extras while the time budget lasts (SUITE_BUDGET_S, default 420 s before they start):
#    the fused two-stage pipeline graph's speed;
# 6. benchmarks/RESULTS.md rewritten from every results folder.
#
# Needs no install: the packages may come from PYTHONPATH (wheels unpacked there); revive itself is
# imported from this checkout through a temporary `revive` namespace of symlinks when it is not
# installed. No make, no pip. Every step runs under `timeout`; a failed step is reported and the
# suite goes on; the exit status is 1 if any step failed (parity below thresholds included).
set -u -o pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
PY="${PYTHON:-python3}"
BUDGET="${SUITE_BUDGET_S:-420}"
WORK="$(mktemp -d -t revive-gpu-suite.XXXXXX)"
trap 'rm -rf "$WORK"' EXIT

if ! "$PY" -c "import revive.benchmarks" 2>/dev/null; then
    mkdir -p "$WORK/shim/revive"
    for part in runtime train export benchmarks; do ln -s "$ROOT/$part" "$WORK/shim/revive/$part"; done
    export PYTHONPATH="$WORK/shim${PYTHONPATH:+:$PYTHONPATH}"
fi
"$PY" -c "import revive.benchmarks.cli" || { echo "gpu_suite: cannot import revive (see above)"; exit 2; }

SLUG="$("$PY" -c "from revive.benchmarks.report import machine_slug; print(machine_slug())")"
OUT="${OUT:-$ROOT/benchmarks/results/$SLUG}"
mkdir -p "$OUT"
BENCH=("$PY" -m revive.benchmarks.cli)
FAILED=()
echo "gpu_suite: machine $SLUG, results in $OUT, scratch $WORK"
command -v nvidia-smi >/dev/null && nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader
"$PY" - <<'EOF'
import importlib
for m in ("torch", "onnxruntime", "tensorrt", "onnx", "segmentation_models_pytorch"):
    try:
        mod = importlib.import_module(m)
        print(f"  {m} {getattr(mod, '__version__', '?')}")
    except Exception as exc:
        print(f"  {m}: not importable ({type(exc).__name__})")
import torch
print("  cuda available:", torch.cuda.is_available())
EOF

step() {  # step NAME SECONDS ARGS...
    local name="$1" limit="$2"; shift 2
    echo "=== $name (limit ${limit}s, suite at ${SECONDS}s)"
    local t0=$SECONDS
    timeout --kill-after=20 "$limit" "${BENCH[@]}" "$@" --out "$OUT"
    local rc=$?
    echo "=== $name: exit $rc after $((SECONDS - t0))s"
    [ $rc -eq 0 ] || FAILED+=("$name (exit $rc)")
}

P2P="$WORK/p2p"
mkdir -p "$P2P"
"$PY" -c "
from pathlib import Path
from revive.benchmarks.random_models import make_random
make_random('pix2pix', Path('$P2P'), 256)
" || { echo "gpu_suite: could not make the model"; exit 2; }
CKPT="$P2P/pix2pix_unet_random_256.pt"

step speed 300 speed --checkpoint "$CKPT" --workdir "$P2P" --batch 1,8,32,64 \
    --backends torch-fp32,torch-amp,torch-compile-amp,ort-cuda,ort-cuda-fp32,tensorrt \
    --warmup 5 --repeats 30 --max-seconds 8

# Reuse what the speed step exported and built (a missing file just means: make it again).
MODELS=(--checkpoint "$CKPT" --workdir "$P2P")
[ -f "$P2P/pix2pix_unet_random_256.onnx" ] && MODELS+=(--onnx "$P2P/pix2pix_unet_random_256.onnx")
[ -f "$P2P/pix2pix_unet_random_256.fp16.onnx" ] && MODELS+=(--onnx-fp16 "$P2P/pix2pix_unet_random_256.fp16.onnx")
[ -f "$P2P/pix2pix_unet_random_256.engine" ] && MODELS+=(--engine "$P2P/pix2pix_unet_random_256.engine")

step parity 150 parity "${MODELS[@]}" --images 16 --batch-size 16 \
    --backends ort-cuda,ort-cuda-fp32,tensorrt,torch-amp

step train-speed 240 train-speed --models pix2pix --batch 32 --image-size 256 --steps 15 --warmup 4 \
    --configs fp32,bf16,bf16+channels_last,bf16+channels_last+compile

step train-speed-two-stage 120 train-speed --tag two-stage --models restore,colorize --batch 32 \
    --image-size 256 --steps 10 --warmup 3 --configs fp32,bf16+channels_last

step files 90 files "${MODELS[@]}" --images 256 --batch-size 32 --workers 4 --backends tensorrt,ort-cuda,torch-fp32

if [ "$SECONDS" -lt "$BUDGET" ]; then
    step speed-two-stage-pipeline 150 speed --model pipeline --tag two-stage-pipeline --workdir "$WORK/pipe" \
        --batch 1,8,32,64 --backends torch-fp32,torch-amp,ort-cuda,tensorrt --warmup 3 --repeats 20 --max-seconds 5
else
    echo "=== extras skipped: ${SECONDS}s used, budget ${BUDGET}s"
fi

"${BENCH[@]}" summary || FAILED+=("summary")
echo "gpu_suite: done in ${SECONDS}s; results in $OUT; summary in benchmarks/RESULTS.md"
if [ ${#FAILED[@]} -gt 0 ]; then
    printf 'gpu_suite: failed: %s\n' "${FAILED[@]}"
    exit 1
fi
