"""The two registries every model file fills: architecture families and named models.

A family file (safmn.py, safmn_ntire23.py, safmnpp.py) holds its blocks, its network class, its checkpoint key
signature and its named variants, and registers them here when imported; `vsr/models/__init__.py` imports each
family file once. This module imports no family, so a family file can import it freely.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

from torch import nn

from vsr.errors import ModelError
from vsr.models.shipped import SHIPPED

GITHUB_RAW = "https://github.com/sunny2109/SAFMN/raw/main"
GITHUB_RELEASE = "https://github.com/sunny2109/SAFMN/releases/download/v0.1.0"
HF_REPO = "https://huggingface.co/Meloo/SAFMN/resolve/main"

StateDict = Mapping[str, object]


@dataclass(frozen=True)
class Family:
    """One architecture family: how to build it and how to recognise its checkpoints.

    `signature` is the set of keys only this family's state dicts hold; `ffn_key` is the first channel mixer's
    expanding conv, whose output channels over `dim` give the ffn scale.
    """

    name: str
    build: Callable[..., nn.Module]  # (dim=, n_blocks=, ffn_scale=, upscaling_factor=) -> module
    signature: tuple[str, ...]
    ffn_key: str

    def matches(self, sd: StateDict) -> bool:
        return all(key in sd for key in self.signature)


FAMILIES: dict[str, Family] = {}


def register_family(family: Family) -> Family:
    if family.name in FAMILIES:
        raise ValueError(f"family {family.name!r} is registered twice")
    FAMILIES[family.name] = family
    return family


@dataclass(frozen=True)
class ArchSpec:
    """Everything needed to build an (untrained) model of one of the registered families."""

    family: str
    dim: int
    n_blocks: int
    ffn_scale: float
    scale: int

    def build(self) -> nn.Module:
        return FAMILIES[self.family].build(dim=self.dim, n_blocks=self.n_blocks, ffn_scale=self.ffn_scale,
                                           upscaling_factor=self.scale)

    def describe(self) -> str:
        return f"{self.family} x{self.scale} (dim {self.dim}, {self.n_blocks} blocks, ffn {self.ffn_scale:g})"


@dataclass(frozen=True)
class ModelEntry:
    """A named model: its architecture, scale and the official download address of its weights."""

    name: str
    arch: ArchSpec | None  # None: a weight-free upscaler (bicubic)
    url: str | None
    sha256: str | None
    description: str

    @property
    def family(self) -> str:
        return self.arch.family if self.arch else "bicubic"

    @property
    def scale(self) -> int | None:
        return self.arch.scale if self.arch else None

    @property
    def filename(self) -> str:
        assert self.url is not None
        return f"{self.name}-{self.url.rsplit('/', 1)[-1]}"


# in registration order, which is the order `vsr models` lists them in
REGISTRY: dict[str, ModelEntry] = {}


def register_model(entry: ModelEntry) -> ModelEntry:
    if entry.name in REGISTRY:
        raise ValueError(f"model {entry.name!r} is registered twice")
    if entry.arch is not None and entry.arch.family not in FAMILIES:
        raise ValueError(f"model {entry.name!r}: family {entry.arch.family!r} is not registered")
    REGISTRY[entry.name] = entry
    return entry


def get_entry(name: str) -> ModelEntry:
    try:
        return REGISTRY[name]
    except KeyError:
        known = ", ".join([*REGISTRY, *SHIPPED])
        raise ModelError(f"unknown model {name!r}; known: {known} (see `vsr models`)") from None
