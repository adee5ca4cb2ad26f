#!/usr/bin/env bash
# Prepare .gpu_carry/ for a GPU machine that cannot download anything (this workplace's device machine): the PyAV
# wheel for its Python (abi3, so one wheel serves 3.10+), and the part of ../shared the CUDA checks read.
# Then: device run with carry [".gpu_carry"] and command "bash scripts/gpu_check.sh".
set -euo pipefail
cd "$(dirname "$0")/.."
dest=.gpu_carry
rm -rf "$dest" && mkdir -p "$dest/wheels" "$dest/shared/weights" "$dest/shared/media"
pip download -q av==18.1.0 --only-binary=:all: --python-version 3.12 --platform manylinux_2_28_x86_64 --no-deps \
  -d "$dest/wheels"
cp ../shared/weights/*.pth "$dest/shared/weights/"
cp ../shared/media/sample_with_increasing_timestamps_320w_240h_5s.mp4 "$dest/shared/media/"
du -sh "$dest"
