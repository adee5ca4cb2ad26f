"""Models and frames from Python: `load_model` and `Upscaler` (arrays, tensors and image files).

Both go through the same code as the commands: a model through `pipelines.common.engine_factory.model_from_settings`
(as `--model/--weights/--scale`), an engine through `build_engine`, an image file through the `image` job.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from pipelines.common.engine_factory import build_engine, model_from_settings
from pipelines.common.settings import EngineSettings, ModelSettings, UpscaleConfig
from pipelines.image import ImageResult, check_image_paths, upscale_image_file
from pipelines.upscale.checks import check_run_settings
from vsr.engine.interface import run_pipelined
from vsr.errors import InputError
from vsr.metrics.image_io import read_image
from vsr.models import LoadedModel

Frames = np.ndarray | torch.Tensor


def split_model(model: str | Path | None, weights: str | Path | None) -> tuple[str | None, str | None]:
    """(name, weights): `model` as a registry or shipped name, or a checkpoint file's path (then the weights)."""
    if model is not None and weights is None and Path(model).is_file():
        model, weights = None, model
    return (None if model is None else str(model)), (None if weights is None else str(weights))


def load_model(name: str | Path = "auto", *, weights: str | Path | None = None, scale: int | None = None,
               strength: float | None = None, compressed: bool = False) -> LoadedModel:
    """A ready model (eval mode, CPU, fp32), as `--model NAME --weights PATH --scale N` load it.

    `name`: `auto` (a cached official checkpoint of `scale`, else the model shipped in the package; never
    downloads), a registry name (`safmn-x2`: downloaded once and cached), a shipped one (`safmn-default-x4`),
    or a checkpoint file's path. `weights`: a checkpoint path (its architecture is read from the file).
    `scale`: the upscale factor wanted (2 with `auto`); a model of another factor is a ModelError.
    `compressed`: `auto` picks the model trained for codec artifacts (as `upscale` does for a lossy video);
    `strength` (0..1) blends such a model with its clean twin (`--strength`).
    Raises `vsr.errors.ModelError` (a `VSRError`) with a one-line message.
    """
    model, path = split_model(name, weights)
    return model_from_settings(ModelSettings(model or "auto", path, scale, strength), compressed=compressed)


class Upscaler:
    """One model on one device, for frames in memory and image files. A context manager (`close()` at the end).

    `model`: a name or a checkpoint path (see `load_model`) or a `LoadedModel`; `device`: auto, cpu, cuda or
    cuda:N; `precision`: auto, fp32 (exact), fp16 or bf16; `tile`: LR pixels per tile side (0: whole frames);
    `batch`: frames per model call when a batch is given (or "auto": what fits the GPU). Bad settings raise a
    `vsr.errors.ConfigError`, a model that does not load a `ModelError`, both `VSRError`s.
    """

    def __init__(self, model: str | Path | LoadedModel = "auto", *, weights: str | Path | None = None,
                 scale: int | None = None, device: str = "auto", precision: str = "auto", tile: int = 0,
                 batch: int | str = 1, strength: float | None = None) -> None:
        settings = EngineSettings(device=device, precision=precision, tile=tile, batch=batch)
        check_run_settings(UpscaleConfig(engine=settings), None)  # the `upscale` command's checks
        if isinstance(model, LoadedModel):
            self.model = model
        else:
            self.model = load_model(model, weights=weights, scale=scale, strength=strength)
        self.batch = batch
        self.engine = build_engine(self.model, settings).engine

    @property
    def scale(self) -> int:
        """The upscale factor."""
        return self.model.scale

    def describe(self) -> str:
        """The model and where it runs, e.g. `safmn-default-x2: SAFMN ... on cpu fp32 channels_last`."""
        return f"{self.model.describe()} on {self.engine.describe()}"

    def __call__(self, x: Frames) -> Frames:
        """Upscale one frame or a batch, returned in the same kind.

        RGB frames (H, W, 3) or (N, H, W, 3), uint8 or uint16, numpy or torch, come back as frames of the same
        dtype (rounded as the video pipeline rounds); a float tensor (3, H, W) or (N, 3, H, W) in [0, 1] comes
        back as float. Anything else is a one-line `vsr.errors.InputError`.
        """
        if not isinstance(x, np.ndarray | torch.Tensor):
            raise InputError(f"frames must be a numpy array or a torch tensor, not {type(x).__name__}")
        single = x.ndim == 3
        frames = x[None] if single else x
        if frames.ndim != 4 or frames.shape[0] == 0:
            raise InputError(f"frames must be (H, W, 3) or (N, H, W, 3), float images (3, H, W) or (N, 3, H, W); "
                             f"got {tuple(x.shape)}")
        out = self._run(frames)
        return out[0] if single else out

    def _run(self, frames: Frames) -> Frames:
        n = frames.shape[0]
        batch = self.batch
        if batch == "auto":
            images = isinstance(frames, torch.Tensor) and frames.is_floating_point()
            h, w = frames.shape[2:4] if images else frames.shape[1:3]
            batch = self.engine.suggest_batch(int(h), int(w))
        if n <= int(batch):
            return self.engine(frames)
        parts = run_pipelined(self.engine, [frames[i:i + int(batch)] for i in range(0, n, int(batch))])
        return np.concatenate(parts) if isinstance(frames, np.ndarray) else torch.cat(parts)

    def image(self, src: str | Path, dst: str | Path) -> ImageResult:
        """Upscale the image file `src` (PNG, JPEG, TIFF, ...; 8 or 16 bit, colour or gray) into `dst` (type from
        its extension), as `vsr image SRC -o DST` does; written atomically. Raises `InputError`/`MediaError`."""
        check_image_paths(src, dst)
        return upscale_image_file(self.engine, read_image(src), dst)

    def close(self) -> None:
        """Stop the engine's worker threads."""
        self.engine.close()

    def __enter__(self) -> Upscaler:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
