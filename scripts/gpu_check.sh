#!/usr/bin/env bash
# One command that verifies the CUDA path on a machine with an NVIDIA GPU and writes its figures under $OUT
# (default gpu_check_out/): gpu_check.json (every figure) and summary.txt. About 5 minutes on an H100/H200.
#   bash scripts/gpu_check.sh            # from the repository root, with ../shared beside it
# Without a GPU it says so in one line and exits 2. On a machine that cannot download, run scripts/gpu_bundle.sh
# first and carry .gpu_carry/ (the PyAV wheel and the part of ../shared the checks read).
set -uo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-gpu_check_out}
PY=${PYTHON:-python3}
if ! nvidia-smi -L >/dev/null 2>&1; then
  echo "gpu_check: no NVIDIA GPU on this machine (nvidia-smi finds none); nothing was run" >&2
  exit 2
fi
mkdir -p "$OUT"
# Every step gets its own limit, and all of them together stay within GPU_CHECK_BUDGET seconds (the device tool
# stops a command at 600 s): a hung step costs its own limit, never the summary.
DEADLINE=$((SECONDS + ${GPU_CHECK_BUDGET:-540}))
limit() { local left=$((DEADLINE - SECONDS - 15)); [ "$left" -lt "$1" ] && echo $((left > 5 ? left : 5)) || echo "$1"; }
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1 VSR_NO_MALLOC_TUNING=1
if ! "$PY" -c 'import torch, sys; sys.exit(not torch.cuda.is_available())' 2>/dev/null; then
  echo "gpu_check: installing a CUDA build of torch" >&2
  "$PY" -m pip install -q --upgrade torch >"$OUT/install.txt" 2>&1 || true
  if ! "$PY" -c 'import torch, sys; sys.exit(not torch.cuda.is_available())' 2>/dev/null; then
    echo "gpu_check: torch does not see the GPU and a CUDA build could not be installed (see $OUT/install.txt)" >&2
    exit 2
  fi
fi
for pkg in av tqdm yaml cv2; do
  "$PY" -c "import $pkg" 2>/dev/null && continue
  name=$pkg; [ "$pkg" = yaml ] && name=PyYAML; [ "$pkg" = cv2 ] && name=opencv-python-headless
  "$PY" -m pip install -q --no-index --find-links .gpu_carry/wheels "$name" >>"$OUT/install.txt" 2>&1 ||
    "$PY" -m pip install -q "$name" >>"$OUT/install.txt" 2>&1 ||
    { echo "gpu_check: cannot install $name (see $OUT/install.txt; run scripts/gpu_bundle.sh here first)" >&2; exit 2; }
done
if [ ! -d ../shared ] && [ -d .gpu_carry/shared ]; then ln -s "$PWD/.gpu_carry/shared" ../shared; fi
if [ ! -d ../shared/weights ]; then echo "gpu_check: ../shared/weights not found (run scripts/gpu_bundle.sh)" >&2; exit 2; fi

{ nvidia-smi; "$PY" -c 'import torch, av; print("torch", torch.__version__, "cuda", torch.version.cuda,
  "cudnn", torch.backends.cudnn.version(), "av", av.__version__)'; } >"$OUT/env.txt" 2>&1
# 1. the CUDA tests (and the frames tests, which share every piece but the copies)
timeout "$(limit 180)" "$PY" -m pytest -q -rA -p no:cacheprovider tests/engine/test_engine_cuda.py tests/engine/test_engine_frames.py \
  >"$OUT/pytest_cuda.txt" 2>&1
echo "pytest exit $?" >>"$OUT/pytest_cuda.txt"
# 2. fidelity, overlap, model-only speed, OOM, auto batch, NVDEC/NVENC, TensorRT: one JSON
timeout "$(limit 180)" "$PY" scripts/gpu_figures.py "$OUT/figures.json" >"$OUT/figures.txt" 2>&1
echo "figures exit $?" >>"$OUT/figures.txt"
# 3. bench through the CLI: model-only at two sizes (batch 1 and auto), the pipeline with I/O-only and its bound
W=../shared/weights/ntire2023_safmn_x4.pth
timeout "$(limit 75)" "$PY" run_pipeline.py bench --model ntire23-safmn-x4 --weights "$W" --device cuda --precision fp16 \
  --input-size 320x180 960x540 --batch 1 best --frames 64 --repeats 2 --no-pipeline --json "$OUT/bench_model.json" \
  >"$OUT/bench_model.txt" 2>&1
timeout "$(limit 60)" "$PY" run_pipeline.py bench --model ntire23-safmn-x4 --weights "$W" --device cuda --precision fp16 \
  --input-size 320x180 --batch 8 --frames 64 --repeats 1 --json "$OUT/bench_pipeline.json" \
  >"$OUT/bench_pipeline.txt" 2>&1
# 4. upscale end to end: colour on the host (swscale) and beside the model (YUV planes) with NVDEC where present
CLIP=../shared/media/sample_with_increasing_timestamps_320w_240h_5s.mp4
for colour in host device; do
  timeout "$(limit 40)" "$PY" run_pipeline.py upscale "$CLIP" -o "$OUT/up_$colour.mp4" --weights "$W" --device cuda \
    --precision fp16 --batch 8 --colour $colour --hwdec auto --overwrite --no-progress \
    --report "$OUT/upscale_$colour.json" >"$OUT/upscale_$colour.txt" 2>&1
done
# 5. live as a user starts it: the model chosen on the GPU for a 30 fps 640x360 source, batches kept in flight
timeout "$(limit 40)" "$PY" run_pipeline.py live --source lavfi:testsrc2=size=640x360:rate=30 --scale 4 --device cuda \
  --duration 8 -o "$OUT/live.mkv" --report "$OUT/live.json" >"$OUT/live.txt" 2>&1
echo "live exit $?" >>"$OUT/live.txt"
"$PY" scripts/gpu_summary.py "$OUT" >"$OUT/summary.txt" 2>&1
cat "$OUT/summary.txt"
