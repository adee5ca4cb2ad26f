"""Model architectures, checkpoint inspection, the registry and the weights cache.

Each model family is one file (safmn.py, safmn_ntire23.py, safmnpp.py): its blocks, its network, its checkpoint
signature and its named variants, registered when the file is imported below. Adding a family is one new file
and one name in the import of families.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from torch import nn

# the families, in the order `vsr models` lists them (each registers itself); bicubic, the baseline, last
from vsr.errors import ModelError
from vsr.models import safmn, safmn_ntire23, safmnpp  # noqa: F401
from vsr.models.bicubic import Bicubic
from vsr.models.checkpoint import infer_arch, load_model, read_checkpoint
from vsr.models.registry import REGISTRY, ArchSpec, ModelEntry, get_entry
from vsr.models.shipped import SHIPPED, shipped_for
from vsr.models.weights import cached_path, fetch_weights, is_cached

__all__ = [
    "ArchSpec", "LoadedModel", "ModelEntry", "REGISTRY", "SHIPPED", "check_model_name", "get_entry",
    "infer_arch",
    "load_model", "read_checkpoint", "resolve_model",
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


def resolve_model(name: str = "auto", weights: str | Path | None = None, scale: int | None = None) -> LoadedModel:
    """Turn the model, weights and scale settings into a loaded model.

    `weights` always wins and needs no architecture named. `auto` never downloads: a cached official
    checkpoint of the requested scale, else the default shipped in the package.
    """
    if weights is not None:
        module, arch = load_model(weights)
        if scale is not None and arch.scale != scale:
            raise ModelError(f"{weights}: is a x{arch.scale} model, but {{scale}} {scale} was requested")
        label = name if name not in ("auto", None) else Path(weights).stem
        return LoadedModel(module, label, arch.scale, arch, str(weights))
    if name in (None, "auto"):
        return _resolve_auto(scale)
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
