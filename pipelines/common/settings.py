"""The settings of a file upscale (single pass, segments, bench's pipeline run): one dataclass tree that a preset
and the command line fill in (pipelines/common/config.py)."""

from __future__ import annotations

from dataclasses import dataclass, field

from vsr.io import EncodeSettings

COMPILE_MODES = ("", "default", "reduce-overhead", "max-autotune")


@dataclass
class ModelSettings:
    name: str = "auto"
    weights: str | None = None
    scale: int | None = None
    strength: float | None = None  # a model trained for compressed video, blended toward its clean twin (0..1)


@dataclass
class EngineSettings:
    device: str = "auto"
    precision: str = "auto"
    batch: int | str = 1  # frames per model call (equal sizes); >1 helps on GPUs, not on CPUs; "auto": fit the GPU
    tile: int = 0  # tile size in input pixels, 0 = whole frames (handled by vsr.engine)
    channels_last: bool = True
    cpu_workers: int = 0  # CPU: frames computed side by side (0: auto, 1: one at a time); see vsr.engine.runner
    colour: str = "auto"  # YUV <-> RGB: host (swscale), device (beside the model), auto (device on a GPU)
    compile: str = ""  # torch.compile mode ("default", "reduce-overhead" = CUDA graphs, "max-autotune"); "": eager
    cpu_tile_area: int | None = None  # CPU: tile frames of more LR pixels than this (0: never; None: the engine's)


@dataclass
class PipelineSettings:
    queue_frames: int = 8  # frames waiting between two stages, at most
    decode_threads: int = 0  # 0: FFmpeg decides
    max_frames: int | None = None  # stop after this many frames (a preview); None: the whole file
    hwdec: str = "auto"  # decoder: cuda (NVDEC), none (the CPU), auto (NVDEC when the model runs on a GPU)


@dataclass
class UpscaleConfig:
    model: ModelSettings = field(default_factory=ModelSettings)
    engine: EngineSettings = field(default_factory=EngineSettings)
    encode: EncodeSettings = field(default_factory=EncodeSettings)
    pipeline: PipelineSettings = field(default_factory=PipelineSettings)
