"""What `bench` measures: its settings (`BenchConfig`) and the constants the parent and the children share."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

DEFAULT_MODELS = ["ntire23-safmn-x4"]
ONNX_BACKENDS = ("onnxruntime", "tensorrt")
MIN_BATCHES = 8  # every timed model-only repeat, and every generated clip, has at least this many batches


@dataclass
class BenchConfig:
    models: list[str] = field(default_factory=lambda: list(DEFAULT_MODELS))
    weights: str | None = None  # a checkpoint; then `models` names it (one model)
    sizes: list[str] = field(default_factory=lambda: ["320x180"])  # input WxH
    batches: list[Any] = field(default_factory=lambda: [1])  # ints, or "best" (1 on CPU, fitted to GPU memory)
    precisions: list[str] = field(default_factory=lambda: ["auto"])
    device: str = "auto"
    backend: str = "torch"
    frames: int = 8  # frames per timed repeat and length of the generated clip (both at least MIN_BATCHES batches)
    repeats: int = 3
    warmup: int = 1  # batches run before timing (through every CPU worker / CUDA slot)
    input: str | None = None  # a clip for the pipeline, naive and I/O-only runs instead of a generated one
    pipeline: bool = True
    naive: bool = True
    io: bool = True  # the I/O-only run (the pipeline without the model): io_only_fps, bound_fps, pipeline_efficiency
    plain: bool = True
    compile: bool = False
    tile: int = 0  # optimised engine's tile (0: whole frames)
    tile_overlap: int = 16
    cpu_tile: int = 110_592  # the optimised CPU engine tiles frames of more LR pixels than this (0: never; as Engine)
    malloc_tuning: bool = True
    threads: int = 0  # torch threads in the children; 0: torch's default (the number of cores)
    cpu_workers: int = 0  # optimised CPU engine: frames side by side (0: auto, as `upscale` does; 1: one at a time)
    codec: str = "libx264"
    preset: str = "veryfast"
    colour: str = "auto"  # YUV <-> RGB as `upscale --colour`: host, device (beside the model), auto (device on a GPU)


@dataclass
class BenchJob:
    """One measurement, as the parent sends it to a child (JSON on stdin, rebuilt with vsr.settings)."""

    model: str = ""  # registry name (the label, with `weights`); empty for the device query
    size: list[int] = field(default_factory=lambda: [0, 0])  # input [W, H]
    device: str = "auto"
    precision: str = "auto"
    weights: str | None = None
    batch: int = 1
    frames: int = 8
    repeats: int = 1
    warmup: int = 1
    backend: str = "torch"
    compile: bool = False
    tile: int = 0
    tile_overlap: int = 16
    cpu_tile: int = 110_592
    cpu_workers: int = 0
    threads: int = 0  # 0: torch's default
    colour: str = "auto"
    plain: bool = False  # the plain model (fp32, NCHW, no fused layers, one thread of frames) instead
    clip: str | None = None  # the generated (or given) clip: its planes for model-only, the input of the video runs
    codec: str = "libx264"
    preset: str = "veryfast"
    out: str | None = None  # the video runs' output file
    scale: int | None = None  # the I/O-only run's scale (the model's, measured first)

