"""The models shipped inside the package (trained with this project's `train`; see default/TRAINING.md).

They need no download: `--model NAME` loads them from the package folder, `auto` falls back to the efficient
ones, and live mode measures the light ones among its candidates.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

SHIPPED_DIR = Path(__file__).parent / "default"


@dataclass(frozen=True)
class ShippedModel:
    name: str
    family: str
    scale: int
    file: str  # inside SHIPPED_DIR
    description: str

    @property
    def path(self) -> Path:
        return SHIPPED_DIR / self.file

    @property
    def available(self) -> bool:
        return self.path.is_file()


SHIPPED: dict[str, ShippedModel] = {m.name: m for m in (
    ShippedModel("safmn-default-x2", "safmn", 2, "safmn_default_x2.pth",
                 "default model: efficient SAFMN x2, trained by `train` on T91 + BSD200"),
    ShippedModel("safmn-default-x4", "safmn", 4, "safmn_default_x4.pth",
                 "default model: efficient SAFMN x4, trained by `train` on T91 + BSD200"),
    ShippedModel("safmnpp-light-default-x2", "safmnpp-light", 2, "safmnpp_light_default_x2.pth",
                 "real-time default: light SAFMN++ x2, trained by `train` on T91 + BSD200"),
    ShippedModel("safmnpp-light-default-x4", "safmnpp-light", 4, "safmnpp_light_default_x4.pth",
                 "real-time default: light SAFMN++ x4, trained by `train` on T91 + BSD200"),
)}


def efficient_default(scale: int) -> ShippedModel | None:
    """The shipped model `auto` falls back to for `scale` (quality first: the efficient SAFMN)."""
    return SHIPPED.get(f"safmn-default-x{scale}")
