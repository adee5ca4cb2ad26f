"""Which files a segmented run reads and writes: IN -o OUT, or several inputs / a folder with -o OUTDIR."""

from __future__ import annotations

from pathlib import Path

from pipelines.upscale.checks import check_input_path
from vsr.errors import InputError
from vsr.io.formats import FORMATS

_VIDEO_EXTENSIONS = {*FORMATS, ".avi", ".ts", ".mts", ".m2ts", ".flv", ".wmv", ".mpg", ".mpeg", ".y4m", ".ogv", ".3gp"}


def output_for(src: Path, out_dir: Path) -> Path:
    ext = src.suffix.lower() if src.suffix.lower() in FORMATS else ".mkv"
    return out_dir / f"{src.stem}{ext}"


def expand_inputs(inputs: list[Path], output: Path) -> list[tuple[Path, Path]]:
    """IN -o OUT, or several inputs / a folder with -o OUTDIR."""
    if len(inputs) == 1 and not inputs[0].is_dir():
        return [(inputs[0], output)]
    files: list[Path] = []
    for p in inputs:
        if p.is_dir():
            found = sorted(q for q in p.iterdir() if q.is_file() and not q.name.startswith(".")
                           and q.suffix.lower() in _VIDEO_EXTENSIONS)
            if not found:
                raise InputError(f"{p}: no video files in this folder")
            files.extend(found)
        else:
            check_input_path(p)
            files.append(p)
    if not output.is_dir():
        raise InputError(f"{output}: with several inputs or a folder, {{output}} must be an existing folder")
    pairs = [(f, output_for(f, output)) for f in files]
    names = [o for _, o in pairs]
    if len(set(names)) != len(names):
        raise InputError("two inputs would be written to the same output name; upscale them separately")
    return pairs
