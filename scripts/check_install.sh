#!/usr/bin/env bash
# The tool as a user gets it: build the wheel, install it into a fresh venv outside the checkout (CPU torch first,
# as README's install does), and from an empty directory there run `vsr models`, `vsr demo` and
# `vsr upscale --config quality` (a preset that must come from the installed package, not from the checkout).
# Any failure fails the script. CI runs it after the tests (.ci/run); a developer can run it from anywhere:
#   bash scripts/check_install.sh        (PYTHON=python3.12 to pick the interpreter; KEEP=1 keeps the temp folder)
set -euo pipefail
repo="$(cd "$(dirname "$0")/.." && pwd)"
python="${PYTHON:-python3}"
tmp="$(mktemp -d "${TMPDIR:-/tmp}/vsr-install-check.XXXXXX")"
[ -n "${KEEP:-}" ] || trap 'rm -rf "$tmp"' EXIT
started=$SECONDS
step() { echo "check_install: $* ($((SECONDS - started)) s)"; }

# From a copy of the checkout's files (tracked and new, not ignored): a stale build/ cannot leak into the wheel, and
# the build writes nothing into the checkout.
step "building the wheel from the files of $repo"
"$python" - "$repo" "$tmp/src" <<'PY'
import shutil
import subprocess
import sys
from pathlib import Path

repo, dst = Path(sys.argv[1]), Path(sys.argv[2])
listed = subprocess.run(["git", "-C", str(repo), "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
                        capture_output=True, check=True).stdout.decode().split("\0")
for name in filter(None, listed):
    if (repo / name).is_file():
        (dst / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(repo / name, dst / name)
PY
"$python" -m pip wheel -q --no-deps -w "$tmp/dist" "$tmp/src"
wheel=("$tmp"/dist/vsr_safmn-*.whl)

step "installing it into a fresh venv in $tmp"
"$python" -m venv "$tmp/venv"
unset PYTHONPATH VIRTUAL_ENV
export PATH="$tmp/venv/bin:$PATH"
pip install -q torch==2.13.0
pip install -q "${wheel[0]}"

mkdir "$tmp/work"
cd "$tmp/work"
installed="$(python -c 'import pathlib, pipelines; print(pathlib.Path(pipelines.__file__).parent)')"
case "$installed" in
    "$tmp/venv/"*) ;;
    *) echo "check_install: pipelines imported from $installed, not from the fresh venv" >&2; exit 1 ;;
esac

step "vsr models"
vsr models >models.txt
grep -q "^safmn-default-x2 " models.txt || { cat models.txt; echo "check_install: no shipped model listed" >&2; exit 1; }

step "vsr demo -o demo.mp4"
vsr demo -o demo.mp4

# The quality preset (fp32, x264 preset slow, CRF 16) on the demo's 320x180 output: a few seconds on a CPU.
step "vsr upscale demo.mp4 -o up.mp4 --config quality"
vsr upscale demo.mp4 -o up.mp4 --config quality --no-progress --report up.json
python - <<'PY'
import json

report = json.load(open("up.json"))
assert report["frames"] > 0, report
assert report["precision"] == "fp32", f"the quality preset was not applied: {report['precision']}"
print(f"check_install: up.mp4 has {report['frames']} frames, {report['output_size']}, {report['precision']}")
PY
[ -s up.mp4 ] || { echo "check_install: up.mp4 missing or empty" >&2; exit 1; }
step "passed"
