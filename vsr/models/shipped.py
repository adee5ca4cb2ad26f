"""The models shipped inside the package (trained with this project's `train`; see default/TRAINING.md).

They need no download: `--model NAME` loads them from the package folder, `auto` falls back to the best clean one
for the scale, and live mode measures the clean ones among its candidates, best first. "Best" is each file's Set5
PSNR (Y, `eval`'s protocol), recorded here and checked against the file by tests/models/test_shipped_models.py.
The robust ones (`clean` set) were trained on codec-degraded clips: `auto` runs them on lossy video, and
`--strength` blends one with its clean twin.
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
    set5_psnr: float  # dB, `python run_pipeline.py eval --model NAME --hr ../shared/data/set5 --scale S`
    clean: str | None = None  # a model trained for compressed video: its clean twin (`--strength` blends toward it)

    @property
    def path(self) -> Path:
        return SHIPPED_DIR / self.file

    @property
    def available(self) -> bool:
        return self.path.is_file()

    @property
    def robust(self) -> bool:
        """Trained on codec-degraded inputs (vsr/training/degrade.py), for compressed video."""
        return self.clean is not None


SHIPPED: dict[str, ShippedModel] = {m.name: m for m in (
    ShippedModel("safmn-default-x2", "safmn", 2, "safmn_default_x2.pth",
                 "default model: efficient SAFMN x2, trained by `train` on T91 + BSD200", 37.04),
    ShippedModel("safmn-default-x4", "safmn", 4, "safmn_default_x4.pth",
                 "default model: efficient SAFMN x4, trained by `train` on T91 + BSD200", 30.36),
    ShippedModel("safmnpp-light-default-x2", "safmnpp-light", 2, "safmnpp_light_default_x2.pth",
                 "real-time default: light SAFMN++ x2, trained by `train` on T91 + BSD200", 37.25),
    ShippedModel("safmnpp-light-default-x4", "safmnpp-light", 4, "safmnpp_light_default_x4.pth",
                 "real-time default: light SAFMN++ x4, trained by `train` on T91 + BSD200", 31.08),
    ShippedModel("ntire23-safmn-robust-x4", "ntire23-safmn", 4, "ntire23_safmn_robust_x4.pth",
                 "for compressed video: NTIRE23 SAFMN x4 fine-tuned on x264/x265 clips, 0.15 of the way from "
                 "the official weights", 32.19, clean="ntire23-safmn-x4"),
)}


def shipped_for(scale: int, robust: bool = False) -> list[ShippedModel]:
    """The shipped models of `scale` in the package, clean or trained for compressed video, best Set5 PSNR first."""
    found = [m for m in SHIPPED.values() if m.scale == scale and m.available and m.robust == robust]
    return sorted(found, key=lambda m: m.set5_psnr, reverse=True)
