"""Named models: architecture, scale and the official download address of each."""

from __future__ import annotations

from dataclasses import dataclass

from vsr.errors import VSRError
from vsr.models.inspect import ArchSpec

GITHUB_RAW = "https://github.com/sunny2109/SAFMN/raw/main"
GITHUB_RELEASE = "https://github.com/sunny2109/SAFMN/releases/download/v0.1.0"
HF_REPO = "https://huggingface.co/Meloo/SAFMN/resolve/main"


@dataclass(frozen=True)
class ModelEntry:
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


def _paper(name: str, scale: int, large: bool, url: str, note: str) -> ModelEntry:
    arch = ArchSpec("safmn", 128 if large else 36, 16 if large else 8, 2.0, scale)
    return ModelEntry(name, arch, url, None, note)


_ENTRIES: list[ModelEntry] = [
    _paper("safmn-x2", 2, False, f"{HF_REPO}/SAFMN_DF2K_x2.pth", "paper SAFMN (efficient), DF2K, x2"),
    _paper("safmn-x3", 3, False, f"{HF_REPO}/SAFMN_DF2K_x3.pth", "paper SAFMN (efficient), DF2K, x3"),
    _paper("safmn-x4", 4, False, f"{HF_REPO}/SAFMN_DF2K_x4.pth", "paper SAFMN (efficient), DF2K, x4"),
    _paper("safmn-l-x2", 2, True, f"{HF_REPO}/SAFMN_L_DF2K_x2.pth", "paper SAFMN-L (large), DF2K, x2"),
    _paper("safmn-l-x3", 3, True, f"{HF_REPO}/SAFMN_L_DF2K_x3.pth", "paper SAFMN-L (large), DF2K, x3"),
    _paper("safmn-l-x4", 4, True, f"{HF_REPO}/SAFMN_L_DF2K_x4.pth", "paper SAFMN-L (large), DF2K, x4"),
    _paper("safmn-real-x2", 2, True, f"{GITHUB_RELEASE}/SAFMN_L_Real_LSDIR_x2-v2.pth",
           "SAFMN-L for real-world degradations, LSDIR, x2"),
    _paper("safmn-real-x4", 4, True, f"{GITHUB_RELEASE}/SAFMN_L_Real_LSDIR_x4-v2.pth",
           "SAFMN-L for real-world degradations, LSDIR, x4"),
    ModelEntry(
        "ntire23-safmn-x4",
        ArchSpec("ntire23-safmn", 36, 8, 2.0, 4),
        f"{GITHUB_RAW}/NTIRE2023_ESR/model_zoo/team15_SAFMN.pth",
        "93fe3d7175ef1446cfcb3a884ddf8bbb4391f31190e9d1bf6c6c1cb768f8b565",
        "SAFMN for the NTIRE 2023 efficient SR challenge, x4",
    ),
    ModelEntry(
        "safmnpp-x4",
        ArchSpec("safmnpp", 36, 6, 1.5, 4),
        f"{GITHUB_RAW}/NTIRE2024_ESR/model_zoo/team23_safmnpp.pth",
        "03bf96b5a50f43123d22c3a257341d536118250f7157f12d2832915be4f52685",
        "SAFMN++ (NTIRE 2024 efficient SR), x4",
    ),
    ModelEntry(
        "safmnpp-light-x4",
        ArchSpec("safmnpp-light", 32, 2, 1.5, 4),
        f"{GITHUB_RAW}/AIS2024-RTSR/pretrained_model/light_safmnpp.pth",
        "a542c92072cb25adab1f9cc5209d4f4f4ca8549db084e6703d2e032357cd50a7",
        "light SAFMN++ (AIS 2024 real-time 4K SR, compressed inputs), x4",
    ),
    ModelEntry("bicubic", None, None, None, "bicubic interpolation, any scale (baseline, no weights)"),
]

REGISTRY: dict[str, ModelEntry] = {e.name: e for e in _ENTRIES}


def get_entry(name: str) -> ModelEntry:
    try:
        return REGISTRY[name]
    except KeyError:
        raise VSRError(f"unknown model {name!r}; known: {', '.join(REGISTRY)} (see `vsr models`)") from None
