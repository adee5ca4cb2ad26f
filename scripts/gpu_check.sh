#!/usr/bin/env bash
# Verify the CUDA path on a machine with an NVIDIA GPU, in about 5 minutes, and bring back three files under $OUT
# (default gpu_check_out/): summary.txt (every target met or missed, first), gpu_check.json (every figure) and
# logs.tar.gz (each step's log). Videos and scratch files stay in a temporary folder.
#   bash scripts/gpu_check.sh                       # from the repository root, with ../shared beside it
#   GPU_CHECK_DRY_RUN=1 bash scripts/gpu_check.sh   # the same steps on the CPU at small sizes (under 2 minutes)
# Built for this workplace's device machine: torch with CUDA already installed, no network, no PyAV. Run
# scripts/gpu_bundle.sh here first and carry .gpu_carry/ (the PyAV wheel and the part of ../shared read here):
# wheels are installed with `pip install --no-index --target` and PYTHONPATH, never from the network.
# Without a GPU (and without the dry-run flag) it says so in one line and exits 2, writing nothing.
set -uo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-gpu_check_out}
PY=${PYTHON:-python3}
DRY=${GPU_CHECK_DRY_RUN:-}
if [ -z "$DRY" ] && ! nvidia-smi -L >/dev/null 2>&1; then
  echo "gpu_check: no NVIDIA GPU on this machine (nvidia-smi finds none); nothing was run" >&2
  exit 2
fi
mkdir -p "$OUT"
WORK=$(mktemp -d "${TMPDIR:-/tmp}/gpu_check.XXXXXX")
LOGS="$WORK/logs"
mkdir -p "$LOGS"
# Each step has its own limit, and all of them together stay within the budget (the device tool stops a command
# at 600 s; the plan is about 300 s on an H100, step by step below). A step cut off loses only itself: the
# summary, the JSON and the archive are rewritten after every step.
START=$SECONDS
DEADLINE=$((SECONDS + ${GPU_CHECK_BUDGET:-420}))
limit() { local left=$((DEADLINE - SECONDS - 10)); [ "$left" -lt "$1" ] && echo $((left > 5 ? left : 5)) || echo "$1"; }
step() {  # step NAME LIMIT COMMAND...: run with its limit (SIGINT first, as Ctrl-C: pytest still prints its summary)
  local name=$1 lim; lim=$(limit "$2"); shift 2
  local t0=$SECONDS
  timeout -s INT -k 10 "$lim" "$@" >"$LOGS/$name.txt" 2>&1
  local rc=$?
  echo "$name: exit $rc in $((SECONDS - t0)) s (limit $lim s)" >>"$LOGS/steps.txt"
  finish
}
finish() {
  "$PY" scripts/gpu_summary.py "$LOGS" "$OUT" >/dev/null 2>"$LOGS/summary_errors.txt"
  tar -czf "$OUT/logs.tar.gz.part" -C "$WORK" logs && mv "$OUT/logs.tar.gz.part" "$OUT/logs.tar.gz"
}
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1 VSR_NO_MALLOC_TUNING=1

# 0. what is missing comes from the carried wheels, never from the network (about 10 s)
if ! "$PY" -c 'import av' 2>/dev/null; then
  if ls .gpu_carry/wheels/*.whl >/dev/null 2>&1; then
    "$PY" -m pip install -q --no-index --no-deps --no-compile --target "$WORK/site" .gpu_carry/wheels/*.whl \
      >"$LOGS/install.txt" 2>&1
    export PYTHONPATH="$PYTHONPATH:$WORK/site"
  fi
  "$PY" -c 'import av' 2>>"$LOGS/install.txt" ||
    { echo "gpu_check: PyAV is missing (run scripts/gpu_bundle.sh here and carry .gpu_carry)" >&2; exit 2; }
fi
if [ ! -d ../shared ] && [ -d .gpu_carry/shared ]; then ln -s "$PWD/.gpu_carry/shared" ../shared; fi
if [ ! -d ../shared/weights ]; then echo "gpu_check: ../shared/weights not found (run scripts/gpu_bundle.sh)" >&2; exit 2; fi
if [ -z "$DRY" ] && ! "$PY" -c 'import torch, sys; sys.exit(not torch.cuda.is_available())' 2>>"$LOGS/install.txt"; then
  echo "gpu_check: torch does not see the GPU (no network here to install a CUDA build)" >&2
  exit 2
fi
{ [ -z "$DRY" ] && nvidia-smi; "$PY" -c 'import torch, av, onnxruntime as ort, sys; print("python", sys.version.split()[0],
  "torch", torch.__version__, "cuda", torch.version.cuda, "cudnn", torch.backends.cudnn.version(), "av", av.__version__,
  "onnxruntime", ort.__version__, ort.get_available_providers())'; } >"$LOGS/env.txt" 2>&1
echo "dry_run=${DRY:-0}" >>"$LOGS/env.txt"

if [ -n "$DRY" ]; then
  DEV=cpu; PREC=fp32; SIZE=32x18; FRAMES=8; BATCH=1; MAXF=3; LIVE=lavfi:testsrc2=size=32x18:rate=10; LIVE_S=2
  W=../shared/weights/ais2024_light_safmnpp_x4.pth; MODEL=safmnpp-light-x4; EXTRA_TESTS=
else
  DEV=cuda; PREC=fp16; SIZE=320x180; FRAMES=256; BATCH=8; MAXF=120; LIVE=lavfi:testsrc2=size=640x360:rate=30; LIVE_S=8
  W=../shared/weights/ntire2023_safmn_x4.pth; MODEL=ntire23-safmn-x4; EXTRA_TESTS=tests/engine/test_engine_boundary.py
fi
CLIP=../shared/media/sample_with_increasing_timestamps_320w_240h_5s.mp4

# 1. the CUDA tests and, on the GPU, the engine boundary's (guard escalation, no reference cycles; the suite runs
#    them on the CPU) (planned 100 s)
step pytest 100 "$PY" -m pytest -q -rA -p no:cacheprovider tests/engine/test_engine_cuda.py \
  $EXTRA_TESTS
# 2. fidelity per family and precision, overlap, model-only speed, OOM, auto batch, NVDEC/NVENC, and onnxruntime
#    only where its GPU providers are present: one JSON, written after every figure (planned 70 s)
step figures 70 env ${DRY:+GPU_FIGURES_DRY_RUN=1} "$PY" scripts/gpu_figures.py "$LOGS/figures.json"
# 3. bench through the CLI: one size, one repeat, the pipeline and its I/O-only bound, no baselines (planned 50 s)
step bench 50 "$PY" run_pipeline.py bench --model "$MODEL" --weights "$W" --device "$DEV" --precision "$PREC" \
  --input-size "$SIZE" --batch "$BATCH" --frames "$FRAMES" --repeats 1 --no-baselines --json "$LOGS/bench.json"
# 4. upscale end to end: colour on the host (swscale) and beside the model (YUV planes), NVDEC where present
#    (planned 2 x 25 s)
for colour in host device; do
  step "upscale_$colour" 25 "$PY" run_pipeline.py upscale "$CLIP" -o "$WORK/up_$colour.mp4" --weights "$W" \
    --device "$DEV" --precision "$PREC" --batch "$BATCH" --colour "$colour" --hwdec auto --frames "$MAXF" \
    --overwrite --no-progress --report "$LOGS/upscale_$colour.json"
done
# 5. live as a user starts it: the model chosen on this machine for the source, batches kept in flight (30 s)
step live 30 "$PY" run_pipeline.py live --source "$LIVE" --scale 4 --device "$DEV" --duration "$LIVE_S" \
  -o "$WORK/live.mkv" --report "$LOGS/live.json"
echo "total: $((SECONDS - START)) s" >>"$LOGS/steps.txt"
finish
cat "$OUT/summary.txt"
rm -rf "$WORK"
