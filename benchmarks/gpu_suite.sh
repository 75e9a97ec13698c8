#!/usr/bin/env bash
# The GPU measurement in one run, planned to fit a 15-minute device lease (benchmarks/GPU_PLAN.md):
#
#   bash benchmarks/gpu_suite.sh              # on the GPU machine: results -> benchmarks/results/<gpu-slug>/
#   bash benchmarks/gpu_suite.sh --rehearse   # on any CPU: every step, tiny, into a scratch folder
#   bash benchmarks/gpu_suite.sh --plan       # the steps and their limits, nothing run
#   bash benchmarks/gpu_suite.sh --probe M.fp16.onnx   # the carried packages tried at once (wheel_check)
#
# Correctness first, speed after. Every step runs under `timeout` with the limit printed beside it, and the
# limits add up to 420 s (7 min); a failed step is reported and the suite goes on, exit 1 if any failed.
#   model        a random-weight pix2pix unet_256 (54M parameters; nothing downloaded)
#   export       export/to_onnx.py --fp16: the FP32 and FP16 ONNX models every later step reuses
#   parity       ONNX Runtime CUDA FP16 and FP32 (IOBinding) and torch-amp against PyTorch FP32 on 16
#                sample images (FP16 >= 45 dB, FP32 >= 60 dB, |dSSIM vs truth| <= 0.001)
#   train-step   one CUDA training step of each family (pix2pix, restore, colorize), bf16 + channels-last
#   train-cli    revive-train pix2pix for 2 steps on CUDA (AMP, channels-last, data loader, checkpoints)
#   trt-build    export/to_trt.py on the FP16 ONNX with TensorRT-RTX (the tensorrt-rtx-cu13 wheels)
#   trt-infer    runtime-infer on the engine trt-build wrote (skipped when it wrote none)
#   infer-cuda   runtime-infer --device cuda on the FP16 ONNX: the torch-free runtime on the GPU
#   speed        engine-only at batch 1, 8, 32, 64 (+ tensorrt when trt-build built an engine)
#   train-speed  pix2pix at batch 32, 256 px: fp32, bf16, bf16 + channels-last
#   files        files -> files through runtime-infer's pipeline, 256 pictures at batch 32
#   summary      benchmarks/RESULTS.md from every results folder
# Then gpu_suite.{json,md} (each step: limit, seconds, exit, last line) and gpu_suite.log go beside the results.
#
# --rehearse runs the same steps in the same order through the same commands and flags, on the CPU: 64-px
# slim models, batch 1-2, 2 steps; each CUDA backend replaced by its CPU twin (ort-cuda -> ort-cpu-fp16,
# ort-cuda-fp32 -> ort-cpu, --device cuda -> cpu; the two-stage U-Nets of train-step on a ResNet-18 encoder:
# an EfficientNet-B3 training step takes 10-30 s on this CPU); TensorRT-RTX played by tests/trt_fakes.py in the
# trt-build and trt-infer steps (tests/rehearsal_trt.py); elsewhere TensorRT is skipped and the benchmark
# says why.
# Results go to $SUITE_WORK (default: a temporary folder), never to benchmarks/results/.
#
# Needs no install: packages may come from PYTHONPATH (the carried wheels in /tmp/site); revive is imported from
# this checkout through a temporary `revive` namespace of symlinks when it is not installed. No make, no pip.
set -u -o pipefail

MODE=real
case "${1:-}" in
    --rehearse) MODE=rehearse ;;
    --plan) MODE=plan ;;
    --probe) MODE=probe; PROBE="${2:?usage: bash benchmarks/gpu_suite.sh --probe MODEL.fp16.onnx}" ;;
    "") ;;
    *) echo "usage: bash benchmarks/gpu_suite.sh [--rehearse | --plan | --probe MODEL.fp16.onnx]" >&2; exit 2 ;;
esac

# name:limit_s, in the order they run (both modes).
PLAN=(model:10 export:65 parity:60 train-step:40 train-cli:35 trt-build:25 trt-infer:15 infer-cuda:20 speed:65
      train-speed:45 files:30 summary:10)
BUDGET_S=420
total=0
for entry in "${PLAN[@]}"; do total=$((total + ${entry#*:})); done
if [ "$MODE" = plan ]; then
    for entry in "${PLAN[@]}"; do printf '%-13s %4ss\n' "${entry%%:*}" "${entry#*:}"; done
    printf '%-13s %4ss (budget %ss)\n' total "$total" "$BUDGET_S"
    exit 0
fi
[ "$total" -le "$BUDGET_S" ] || { echo "gpu_suite: the steps' limits add up to ${total}s, over ${BUDGET_S}s"; exit 2; }
limit_of() { local e; for e in "${PLAN[@]}"; do [ "${e%%:*}" = "$1" ] && { echo "${e#*:}"; return; }; done; echo 0; }
# A rehearsal's steps run on a CPU, perhaps a loaded one: their limits are the plan's times SCALE (a hang still
# stops), and the whole rehearsal is held to its own bound by the test that runs it.
SCALE=1
[ "$MODE" = rehearse ] && SCALE="${REHEARSE_SCALE:-4}"

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
PY="${PYTHON:-python3}"
if [ -n "${SUITE_WORK:-}" ]; then WORK="$SUITE_WORK"; mkdir -p "$WORK"; else
    WORK="$(mktemp -d -t revive-gpu-suite.XXXXXX)"; trap 'rm -rf "$WORK"' EXIT; fi
mkdir -p "$WORK/logs"

if ! "$PY" -c "import revive.benchmarks" 2>/dev/null; then
    mkdir -p "$WORK/shim/revive"
    for part in runtime train export benchmarks; do ln -sfn "$ROOT/$part" "$WORK/shim/revive/$part"; done
    export PYTHONPATH="$WORK/shim${PYTHONPATH:+:$PYTHONPATH}"
fi
# One interpreter start for three facts: revive imports; the GPU's slug; where pip's nvidia-* packages keep CUDA 13
# and cuDNN 9, which onnxruntime-gpu loads by name: without them on LD_LIBRARY_PATH a process that has not imported
# torch (runtime-infer) gets the CPU provider.
FACTS="$("$PY" -c "
import glob, os
import revive.benchmarks.cli
from revive.benchmarks.report import machine_slug
print(machine_slug())
try:
    import nvidia
    print(':'.join(sorted(d for p in nvidia.__path__ for d in glob.glob(os.path.join(p, '*', 'lib')))))
except ImportError:
    print()
")" || { echo "gpu_suite: cannot import revive (see above)"; exit 2; }
SLUG="$(echo "$FACTS" | sed -n 1p)"; NV_LIBS="$(echo "$FACTS" | sed -n 2p)"
[ -n "$NV_LIBS" ] && export LD_LIBRARY_PATH="$NV_LIBS${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
if [ "$MODE" = probe ]; then  # the packages as the suite will see them: imports, providers, a CUDA run, RTX
    "$PY" -m revive.benchmarks.wheel_check "$PROBE"
    exit $?
fi

if [ "$MODE" = rehearse ]; then
    RES="$WORK/results/$SLUG"; SUMMARY=(--root "$WORK/results" --output "$WORK/RESULTS.md")
    DEVICE=cpu; ORT16=ort-cpu-fp16; ORT32=ort-cpu; TRT_RUN=("$PY" "$ROOT/tests/rehearsal_trt.py")
    SIZE=64; SMALL=(--small); MAX_BATCH=8; NGF=8
    PARITY=(--images 2 --batch-size 2); STEP_BATCH=2; STEP_ENCODER=(--encoder resnet18)
    CLI_BATCH=2; CLI_WORKERS=0; INFER_IMAGES=4
    SPEED=(--batch 1,2 --warmup 1 --repeats 3 --max-seconds 2)
    TRAIN=(--batch 2 --image-size 64 --steps 2 --warmup 1); FILES=(--images 4 --batch-size 2 --workers 2)
else
    RES="${RESULTS_DIR:-$ROOT/benchmarks/results/$SLUG}"; SUMMARY=()
    DEVICE=cuda; ORT16=ort-cuda; ORT32=ort-cuda-fp32; TRT_RUN=("$PY")
    SIZE=256; SMALL=(); MAX_BATCH=64; NGF=64
    PARITY=(--images 16 --batch-size 16); STEP_BATCH=4; STEP_ENCODER=()
    CLI_BATCH=8; CLI_WORKERS=4; INFER_IMAGES=64
    SPEED=(--batch 1,8,32,64 --warmup 3 --repeats 20 --max-seconds 3)
    TRAIN=(--batch 32 --image-size 256 --steps 10 --warmup 3); FILES=(--images 256 --batch-size 32 --workers 8)
fi
mkdir -p "$RES"
BENCH=("$PY" -m revive.benchmarks.cli)
RECORD="$WORK/steps.tsv"
: > "$RECORD"
FAILED=()

{
echo "gpu_suite ($MODE): machine $SLUG, results in $RES, scratch $WORK"
echo "plan: ${PLAN[*]} (limits ${total}s of ${BUDGET_S}s)"
command -v nvidia-smi >/dev/null && nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader
echo "LD_LIBRARY_PATH=${LD_LIBRARY_PATH:-}"
"$PY" - <<'EOF'
import importlib
for m in ("torch", "onnxruntime", "tensorrt", "tensorrt_rtx_bindings", "cuda.bindings", "onnx",
          "segmentation_models_pytorch"):
    try:
        mod = importlib.import_module(m)
        print(f"  {m} {getattr(mod, '__version__', '?')} ({getattr(mod, '__file__', '?')})")
    except Exception as exc:
        print(f"  {m}: not importable ({type(exc).__name__}: {exc})")
import onnxruntime, torch
print("  onnxruntime providers:", onnxruntime.get_available_providers())
print("  cuda available:", torch.cuda.is_available(),
      torch.cuda.get_device_name(0) if torch.cuda.is_available() else "")
EOF
} 2>&1 | tee "$WORK/logs/env.log"

step() {  # step NAME COMMAND...: run under the step's limit, log, record
    local name="$1"; shift
    local planned limit; planned="$(limit_of "$name")"; limit=$((planned * SCALE))
    local scaled=""; [ "$SCALE" = 1 ] || scaled=" (${SCALE} x the plan's ${planned}s)"
    echo "=== $name: limit ${limit}s$scaled (suite at ${SECONDS}s)"
    local t0=$SECONDS
    timeout --kill-after=10 "$limit" "$@" 2>&1 | tee "$WORK/logs/$name.log"
    local rc=${PIPESTATUS[0]}
    local took=$((SECONDS - t0))
    [ $rc -eq 124 ] && echo "=== $name: stopped at its limit (${limit}s)"
    echo "=== $name: exit $rc after ${took}s"
    printf '%s\t%s\t%s\t%s\t%s\n' "$name" "$planned" "$limit" "$took" "$rc" >> "$RECORD"
    [ $rc -eq 0 ] || FAILED+=("$name (exit $rc)")
}

skip() {  # skip NAME REASON: recorded, not a failure
    echo "=== $1: skipped ($2)"
    printf '%s\t%s\t%s\t0\tskipped: %s\n' "$1" "$(limit_of "$1")" "$(($(limit_of "$1") * SCALE))" "$2" >> "$RECORD"
}

P2P="$WORK/p2p"
CKPT="$P2P/pix2pix_unet_random_${SIZE}$([ ${#SMALL[@]} -gt 0 ] && echo _small).pt"
ONNX32="$P2P/pix2pix.onnx"; ONNX16="$P2P/pix2pix.fp16.onnx"
RTX="$WORK/rtx"; ENGINE="$RTX/pix2pix.engine"
INPUTS="$WORK/inputs"

step model "$PY" -m revive.benchmarks.random_models pix2pix "$P2P" --image-size "$SIZE" "${SMALL[@]}"
step export "$PY" export/to_onnx.py "$CKPT" -o "$ONNX32" --fp16 --max-batch "$MAX_BATCH"
MODELS=(--checkpoint "$CKPT" --workdir "$P2P" --onnx "$ONNX32" --onnx-fp16 "$ONNX16")
step parity "${BENCH[@]}" parity "${MODELS[@]}" "${PARITY[@]}" --backends "$ORT16,$ORT32,torch-amp" --out "$RES"
step train-step "${BENCH[@]}" train-speed --tag train-step --models pix2pix,restore,colorize --batch "$STEP_BATCH" \
    --image-size "$SIZE" --ngf "$NGF" --steps 1 --warmup 1 --configs bf16+channels_last "${STEP_ENCODER[@]}" \
    --device "$DEVICE" --out "$RES"
step train-cli "$PY" -m revive.train pix2pix --data sample --image-size "$SIZE" --ngf "$NGF" --ndf "$NGF" \
    --batch-size "$CLI_BATCH" --max-steps 2 --epochs 1 --device "$DEVICE" --workers "$CLI_WORKERS" \
    --out "$WORK/train-cli"
"$PY" -c "from pathlib import Path; from revive.benchmarks.sample_inputs import make_inputs; \
make_inputs(Path('$INPUTS'), $INFER_IMAGES, $SIZE)" || FAILED+=("inputs")
step trt-build "${TRT_RUN[@]}" export/to_trt.py "$ONNX16" -o "$ENGINE" --max-batch "$MAX_BATCH"
if [ -f "$ENGINE" ]; then
    step trt-infer "${TRT_RUN[@]}" -m revive.runtime.cli --engine "$ENGINE" "$INPUTS" -o "$RTX/out" \
        --summary "$RES/trt_infer.json" --no-progress
else
    skip trt-infer "trt-build wrote no engine"
fi
step infer-cuda "$PY" -m revive.runtime.cli --engine "$ONNX16" "$INPUTS" -o "$WORK/infer-cuda" --device "$DEVICE" \
    --summary "$RES/infer_cuda.json" --no-progress
TRT=()
if [ -f "$ENGINE" ]; then TRT=(--engine "$ENGINE"); BACKENDS_TRT=",tensorrt"; else BACKENDS_TRT=""
    echo "=== tensorrt left out of speed and files: trt-build wrote no engine"; fi
step speed "${BENCH[@]}" speed "${MODELS[@]}" "${TRT[@]}" "${SPEED[@]}" \
    --backends "$ORT16,$ORT32,torch-fp32,torch-amp$BACKENDS_TRT" --out "$RES"
step train-speed "${BENCH[@]}" train-speed --models pix2pix "${TRAIN[@]}" --ngf "$NGF" \
    --configs fp32,bf16,bf16+channels_last --device "$DEVICE" --out "$RES"
step files "${BENCH[@]}" files "${MODELS[@]}" "${TRT[@]}" "${FILES[@]}" --backends "$ORT16,torch-fp32$BACKENDS_TRT" \
    --out "$RES"
write_record() {  # gpu_suite.{json,md} from the steps recorded so far
    "$PY" - "$RECORD" "$RES" "$WORK/logs" "$MODE" <<'EOF'
import sys
from pathlib import Path
from revive.benchmarks.report import markdown_table, machine_line, write_results

record, out, logs, mode = Path(sys.argv[1]), Path(sys.argv[2]), Path(sys.argv[3]), sys.argv[4]
steps = []
for line in record.read_text().splitlines():
    name, limit, timeout, took, rc = line.split("\t")
    path = logs / f"{name}.log"
    log = path.read_text(errors="replace").strip().splitlines() if path.exists() else []
    skipped = rc.startswith("skipped")
    steps.append({"step": name, "limit_s": int(limit), "timeout_s": int(timeout), "seconds": int(took),
                  "exit": None if skipped else int(rc),
                  "skipped": rc[len("skipped: "):] if skipped else None,
                  "last_lines": log[-3:] if skipped or int(rc) else log[-1:]})

def markdown(data):
    rows = [[s["step"], s["limit_s"], s["seconds"],
             f"skipped: {s['skipped']}" if s["skipped"] else "ok" if s["exit"] == 0 else f"**exit {s['exit']}**",
             " / ".join(s["last_lines"]).replace("|", "\\|")[:300]] for s in data["steps"]]
    return "\n".join([f"# GPU suite ({data['mode']})", "", machine_line(data["machine"]), "",
                      f"Limits {sum(s['limit_s'] for s in data['steps'])} s, "
                      f"took {sum(s['seconds'] for s in data['steps'])} s. Command: `bash benchmarks/gpu_suite.sh"
                      + (" --rehearse" if data["mode"] == "rehearse" else "") + "`", "",
                      markdown_table(["step", "limit s", "took s", "result", "last line(s)"], rows)])

write_results("gpu_suite", "bash benchmarks/gpu_suite.sh", {"mode": mode, "steps": steps}, markdown, out=out)
EOF
}
write_record || FAILED+=("record")  # before the summary, so that RESULTS.md shows the steps
step summary "${BENCH[@]}" summary "${SUMMARY[@]}"
write_record || FAILED+=("record")
{ cat "$WORK/logs/env.log"; cut -f1 "$RECORD" | while read -r name; do cat "$WORK/logs/$name.log" 2>/dev/null; done; } \
    > "$RES/gpu_suite.log"
cat "$RES/gpu_suite.md" 2>/dev/null
echo "gpu_suite: done in ${SECONDS}s; results in $RES"
if [ ${#FAILED[@]} -gt 0 ]; then
    printf 'gpu_suite: failed: %s\n' "${FAILED[@]}"
    exit 1
fi
