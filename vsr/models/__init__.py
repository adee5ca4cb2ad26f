"""Model architectures, checkpoint inspection, the registry and the weights cache.

Each model family is one file (safmn.py, safmn_ntire23.py, safmnpp.py): its blocks, its network, its checkpoint
signature and its named variants, registered when the file is imported below. Adding a family is one new file
and one name in the import of families.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

# the families, in the order `vsr models` lists them (each registers itself); bicubic, the baseline, last
from vsr.errors import ModelError
from vsr.models import safmn, safmn_ntire23, safmnpp  # noqa: F401
from vsr.models.bicubic import Bicubic
from vsr.models.checkpoint import infer_arch, load_model, read_checkpoint
from vsr.models.registry import REGISTRY, ArchSpec, ModelEntry, get_entry
from vsr.models.shipped import SHIPPED, ShippedModel, shipped_for
from vsr.models.weights import cached_path, fetch_weights, is_cached

__all__ = [
    "ArchSpec", "LoadedModel", "ModelEntry", "REGISTRY", "SHIPPED", "blend_weights", "check_model_name", "get_entry",
    "infer_arch", "load_model", "read_checkpoint", "resolve_model",
]

# Official checkpoints that the `auto` model may pick when already cached, best first, by scale.
_AUTO_PREFERENCE = ["safmn-l-x{s}", "safmn-x{s}", "ntire23-safmn-x{s}", "safmnpp-x{s}"]


@dataclass
class LoadedModel:
    """A ready model (eval mode, CPU, fp32) and where it came from."""

    module: nn.Module
    name: str
    scale: int
    arch: ArchSpec | None
    source: str  # a path, or "bicubic"

    def describe(self) -> str:
        arch = self.arch.describe() if self.arch else f"bicubic x{self.scale}"
        return f"{self.name}: {arch} from {self.source}"


def check_model_name(name: str) -> None:
    """A one-line ModelError unless `name` is `auto`, a registry model or a shipped one."""
    if name != "auto" and name not in SHIPPED:
        get_entry(name)


def resolve_model(name: str = "auto", weights: str | Path | None = None, scale: int | None = None, *,
                  compressed: bool = False, strength: float | None = None) -> LoadedModel:
    """Turn the model, weights and scale settings into a loaded model.

    `weights` always wins and needs no architecture named. `auto` never downloads: for `compressed` input (an
    ordinary lossy video) the shipped model trained for codec artifacts, else a cached official checkpoint of the
    requested scale, else the clean default shipped in the package. `strength` (0..1) blends a model trained for
    compressed video with its clean twin, weight by weight (1: as trained, 0: the clean model).
    """
    if strength is not None and not 0.0 <= strength <= 1.0:
        raise ModelError(f"strength {strength}: expected a weight from 0 to 1")
    if weights is not None:
        if strength is not None:
            raise ModelError("{strength} goes with a model trained for compressed video, not with {weights}")
        module, arch = load_model(weights)
        if scale is not None and arch.scale != scale:
            raise ModelError(f"{weights}: is a x{arch.scale} model, but {{scale}} {scale} was requested")
        label = name if name not in ("auto", None) else Path(weights).stem
        return LoadedModel(module, label, arch.scale, arch, str(weights))
    if name in (None, "auto"):
        robust = shipped_for(scale or 2, robust=True) if compressed or strength is not None else []
        if robust:
            return _load_robust(robust[0], strength)
        if strength is not None:
            raise ModelError(f"{{strength}}: no x{scale or 2} model trained for compressed video is shipped",
                             hint=_robust_hint())
        return _resolve_auto(scale)
    if name in SHIPPED and SHIPPED[name].robust:
        return _load_robust(SHIPPED[name], strength, scale)
    if strength is not None:
        raise ModelError(f"{{strength}} blends a model trained for compressed video with its clean twin; {name} "
                         "is not one", hint=_robust_hint())
    if name in SHIPPED:
        return _load_shipped(name, scale)
    entry = get_entry(name)
    if entry.arch is None:
        s = scale or 2
        return LoadedModel(Bicubic(s).eval(), "bicubic", s, None, "bicubic")
    if scale is not None and entry.arch.scale != scale:
        raise ModelError(f"model {name} is x{entry.arch.scale}, but {{scale}} {scale} was requested")
    path = fetch_weights(entry)
    module, arch = load_model(path, expect=entry.arch)
    return LoadedModel(module, name, arch.scale, arch, str(path))


def _robust_hint() -> str:
    names = [m.name for m in SHIPPED.values() if m.robust and m.available]
    return f"models trained for compressed video: {', '.join(names) or 'none in this install'}"


def _load_robust(shipped: ShippedModel, strength: float | None, scale: int | None = None) -> LoadedModel:
    """A shipped robust model, its weights blended with its clean twin's when `strength` is under 1."""
    loaded = _load_shipped(shipped.name, scale)
    if strength is None or strength == 1.0:
        return loaded
    assert shipped.clean is not None
    clean = resolve_model(shipped.clean, scale=shipped.scale)  # an official twin is downloaded once, then cached
    if clean.arch != loaded.arch:
        raise ModelError(f"{shipped.name} and its clean twin {shipped.clean} differ in architecture")
    blend_weights(loaded.module, clean.module, strength)
    loaded.name, loaded.source = f"{shipped.name}@{strength:g}", f"{loaded.source} + {clean.source}"
    return loaded


def blend_weights(robust: nn.Module, clean: nn.Module, strength: float) -> None:
    """robust <- strength * robust + (1 - strength) * clean, for every floating-point parameter and buffer (the
    two networks were fine-tuned one from the other, so their weights interpolate, as Real-ESRGAN's `-dn` does)."""
    theirs = clean.state_dict()
    with torch.no_grad():
        for key, value in robust.state_dict().items():
            if value.is_floating_point():
                value.lerp_(theirs[key].to(value.dtype), 1.0 - strength)


def _resolve_auto(scale: int | None) -> LoadedModel:
    s = scale or 2
    for pattern in _AUTO_PREFERENCE:
        entry = REGISTRY.get(pattern.format(s=s))
        if entry is not None and is_cached(entry):
            module, arch = load_model(cached_path(entry), expect=entry.arch)
            return LoadedModel(module, entry.name, s, arch, str(cached_path(entry)))
    if best := shipped_for(s):
        return _load_shipped(best[0].name, s)
    raise ModelError(f"no x{s} model is available offline",
                     hint="name one with {model} (downloads it) or pass {weights} PATH")


def _load_shipped(name: str, scale: int | None) -> LoadedModel:
    shipped = SHIPPED[name]
    if scale is not None and shipped.scale != scale:
        raise ModelError(f"model {name} is x{shipped.scale}, but {{scale}} {scale} was requested")
    if not shipped.available:
        raise ModelError(f"model {name} is not shipped in this install ({shipped.path} is missing)",
                         hint="reinstall the package, or name another with {model}")
    module, arch = load_model(shipped.path)
    if arch.family != shipped.family or arch.scale != shipped.scale:
        raise ModelError(f"{shipped.path}: holds {arch.describe()}, not the {shipped.family} x{shipped.scale} "
                         f"that {name} names")
    return LoadedModel(module, name, arch.scale, arch, str(shipped.path))
