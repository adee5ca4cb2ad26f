"""The one place that turns settings into a loaded model and its Engine."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from pipelines.common.settings import EngineSettings, ModelSettings
from vsr.engine.interface import FrameEngine
from vsr.io import SourceInfo
from vsr.models import LoadedModel


@dataclass
class BuiltEngine:
    engine: FrameEngine
    scale: int
    labels: dict[str, str]  # model, device, precision, engine: for reports


def engine_config(settings: EngineSettings):
    """The vsr.engine EngineConfig for these settings (checked by pipelines.upscale.checks.check_run_settings)."""
    from vsr.engine.runner import EngineConfig

    cpu_tile = {} if settings.cpu_tile_area is None else {"cpu_tile": settings.cpu_tile_area}
    return EngineConfig(device=settings.device, precision=settings.precision, channels_last=settings.channels_last,
                        tile=settings.tile, cpu_workers=settings.cpu_workers, compile=bool(settings.compile),
                        compile_mode=settings.compile or "default", **cpu_tile)


def model_from_settings(model: ModelSettings, compressed: bool = False) -> LoadedModel:
    """The model the settings name (an official one downloaded and cached once); `auto` answers `compressed`
    input (an ordinary lossy video) with the model trained for codec artifacts."""
    from vsr.models import resolve_model

    return resolve_model(model.name, weights=model.weights, scale=model.scale, compressed=compressed,
                         strength=model.strength)


def build_engine(loaded: LoadedModel, settings: EngineSettings,
                 notices: Callable[[str], None] | None = None) -> BuiltEngine:
    """The engine for a loaded model, with the labels a report shows. Without `notices` the engine prints its
    own (on stderr)."""
    from vsr.engine.runner import Engine

    engine = Engine(loaded.module, loaded.scale, engine_config(settings), notice=notices)
    labels = {"model": loaded.name, "device": str(engine.device), "precision": engine.precision,
              "engine": engine.describe()}
    return BuiltEngine(engine, loaded.scale, labels)


def resolve_batch(batch: int | str, engine: FrameEngine, info: SourceInfo, notices: Callable[[str], None]) -> int:
    """`auto`: what the engine fits in memory at the input's size (a GPU; 1 elsewhere); a number as it is."""
    if batch != "auto":
        return int(batch)
    chosen = engine.suggest_batch(info.height, info.width)
    if chosen > 1:
        notices(f"batch auto: {chosen} frames per model call at {info.width}x{info.height}")
    return chosen
