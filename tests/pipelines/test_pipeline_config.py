"""Settings: YAML preset -> flags -> the dataclass tree that pipelines receive."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import pytest

import pipelines
from pipelines.cli import build_parser
from pipelines.commands.upscale import FLAG_SETTINGS
from pipelines.common.config import PRESET_DIR, find_preset, load_config, overrides_from_args, shipped_presets
from pipelines.common.settings import UpscaleConfig
from vsr.errors import VSRError


@dataclass
class Inner:
    size: int = 1
    ratio: float = 0.5
    name: str | None = None


@dataclass
class Outer:
    flag: bool = False
    inner: Inner = field(default_factory=Inner)


def test_defaults_preset_and_overrides_in_that_order(tmp_path: Path) -> None:
    assert load_config(Outer) == Outer()
    preset = tmp_path / "p.yaml"
    preset.write_text("flag: true\ninner:\n  size: 3\n  ratio: 2\n")
    cfg = load_config(Outer, preset)
    assert cfg.flag is True and cfg.inner.size == 3 and cfg.inner.ratio == 2.0 and cfg.inner.name is None
    cfg = load_config(Outer, preset, {"inner.size": 7, "inner.name": "x"})
    assert cfg.inner.size == 7 and cfg.inner.name == "x" and cfg.inner.ratio == 2.0


@pytest.mark.parametrize("text, message", [
    ("inner:\n  sise: 3\n", "unknown setting inner.sise"),
    ("inner:\n  size: big\n", "inner.size: expected int"),
    ("flag: 1\n", "flag: expected bool"),
    ("- a\n- b\n", "must be a mapping"),
    ("inner: [1\n", "not valid YAML"),
])
def test_bad_presets_are_one_line_errors(tmp_path: Path, text: str, message: str) -> None:
    preset = tmp_path / "bad.yaml"
    preset.write_text(text)
    with pytest.raises(VSRError, match=message):
        load_config(Outer, preset)


def test_missing_preset_names_the_shipped_ones() -> None:
    with pytest.raises(VSRError, match="shipped presets: .*cpu.*fast.*quality"):
        load_config(Outer, "no-such-preset")


@pytest.mark.parametrize("name", ["quality", "fast", "cpu"])
def test_shipped_upscale_presets_load(name: str) -> None:
    cfg = load_config(UpscaleConfig, name)
    assert (PRESET_DIR / f"{name}.yaml").is_file()
    assert cfg.encode.preset and cfg.engine.batch >= 1


def test_presets_ship_inside_the_package_and_are_found_by_name_or_old_path(tmp_path: Path) -> None:
    assert PRESET_DIR.parent == Path(pipelines.__file__).parent  # package data, installed with the tool
    assert {"quality", "fast", "cpu", "live_webcam", "bench_edge", "train/safmn_x2"} <= set(shipped_presets())
    for name in ("train/safmn_x2", "train/safmn_x2.yaml", "configs/train/safmn_x2.yaml"):
        assert find_preset(name) == PRESET_DIR / "train" / "safmn_x2.yaml"
    assert find_preset("configs/quality.yaml") == PRESET_DIR / "quality.yaml"
    own = tmp_path / "quality.yaml"
    own.write_text("encode:\n  crf: 3\n")
    assert load_config(UpscaleConfig, own).encode.crf == 3  # a file of that name wins over the preset
    with pytest.raises(VSRError, match="no such file .*train/safmn_x2"):
        find_preset(tmp_path / "missing" / "quality.yaml")  # a path that is not there is not a preset


def test_train_presets_load_from_any_directory(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from pipelines.train import load_config as load_train_config
    from vsr.models import REGISTRY, SHIPPED

    monkeypatch.chdir(tmp_path)
    for name in shipped_presets():
        if name.startswith("train/"):
            cfg = load_train_config(name)
            # a shipped or registry model, not a path into a checkout
            assert cfg.iters > 0 and cfg.model.init in (None, *SHIPPED, *REGISTRY), name


def test_flags_override_the_preset_only_when_given() -> None:
    parser = build_parser()
    args = parser.parse_args(["upscale", "in.mp4", "-o", "out.mp4", "--config", "cpu", "--crf", "30"])
    cfg = load_config(UpscaleConfig, args.config, overrides_from_args(args, FLAG_SETTINGS))
    assert cfg.encode.crf == 30  # flag
    assert cfg.encode.preset == "veryfast" and cfg.engine.device == "cpu"  # preset, not the flags' defaults
    assert cfg.model.name == "auto"  # the dataclass default
    args = parser.parse_args(["upscale", "in.mp4", "-o", "out.mp4", "--config", "cpu", "--device", "auto",
                              "--batch", "2", "--model", "bicubic", "--frames", "5"])
    cfg = load_config(UpscaleConfig, args.config, overrides_from_args(args, FLAG_SETTINGS))
    assert cfg.engine.device == "auto" and cfg.engine.batch == 2 and cfg.model.name == "bicubic"
    assert cfg.pipeline.max_frames == 5
