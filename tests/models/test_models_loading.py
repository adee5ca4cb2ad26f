"""Checkpoint formats, architecture inference and the one-line errors for bad checkpoints."""

from __future__ import annotations

import torch

from vsr.models import REGISTRY, ArchSpec, infer_arch, load_model, resolve_model

from ..conftest import SHARED, run_cli

OFFICIAL = {
    "ntire2023_safmn_x4.pth": (ArchSpec("ntire23-safmn", 36, 8, 2.0, 4), 237_000),
    "ntire2024_safmnpp_x4.pth": (ArchSpec("safmnpp", 36, 6, 1.5, 4), 211_572),
    "ais2024_light_safmnpp_x4.pth": (ArchSpec("safmnpp-light", 32, 2, 1.5, 4), 66_176),
}


def test_official_checkpoints_load_by_path_alone():
    for name, (spec, n_params) in OFFICIAL.items():
        model, got = load_model(SHARED / "weights" / name)
        assert got == spec
        assert sum(p.numel() for p in model.parameters()) == n_params


def test_params_ema_preferred_and_module_prefix_stripped(tmp_path):
    raw = torch.load(SHARED / "weights" / "ntire2024_safmnpp_x4.pth", weights_only=True)
    assert not torch.equal(raw["params"]["to_feat.weight"], raw["params_ema"]["to_feat.weight"])
    model, _ = load_model(SHARED / "weights" / "ntire2024_safmnpp_x4.pth")
    assert torch.equal(model.state_dict()["to_feat.weight"], raw["params_ema"]["to_feat.weight"])
    # a DataParallel-style bare state dict with `module.` prefixes
    bare = {f"module.{k}": v for k, v in raw["params"].items()}
    torch.save(bare, tmp_path / "bare.pth")
    model, _ = load_model(tmp_path / "bare.pth")
    assert torch.equal(model.state_dict()["to_feat.weight"], raw["params"]["to_feat.weight"])


def test_registry_architectures_round_trip_through_inference():
    for entry in REGISTRY.values():
        if entry.arch is None:
            continue
        assert infer_arch(entry.arch.build().state_dict()) == entry.arch


def test_paper_presets_have_the_papers_sizes():
    efficient = sum(p.numel() for p in REGISTRY["safmn-x4"].arch.build().parameters())
    large = sum(p.numel() for p in REGISTRY["safmn-l-x4"].arch.build().parameters())
    # the paper: SAFMN x4 240K parameters, SAFMN-L x4 5.56M
    assert 235_000 < efficient < 245_000
    assert 5_500_000 < large < 5_620_000


def test_tiny_and_odd_inputs_do_not_crash():
    for entry in ("safmn-x4", "ntire23-safmn-x4", "safmnpp-x4", "safmnpp-light-x4"):
        model = REGISTRY[entry].arch.build().eval()
        for h, w in [(5, 7), (1, 1), (3, 17), (9, 8)]:
            with torch.inference_mode():
                out = model(torch.rand(1, 3, h, w))
            assert out.shape == (1, 3, 4 * h, 4 * w)
            assert torch.isfinite(out).all()


def test_bicubic_is_a_registry_model_of_any_scale():
    m = resolve_model("bicubic", scale=3)
    assert m.scale == 3
    assert m.module(torch.rand(1, 3, 5, 7)).shape == (1, 3, 15, 21)


def _bad_checkpoint_error(path, tmp_path):
    result = run_cli("image", str(SHARED / "data" / "set5" / "bird.png"), "-o", str(tmp_path / "o.png"),
                     "--weights", str(path))
    assert result.returncode != 0
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "o.png").exists()
    return lines[0]


def test_missing_weights_file(tmp_path):
    assert "not found" in _bad_checkpoint_error(tmp_path / "nope.pth", tmp_path)


def test_random_bytes_weights_file(tmp_path):
    p = tmp_path / "random.pth"
    p.write_bytes(torch.randint(0, 256, (4096,), dtype=torch.uint8).numpy().tobytes())
    assert "not a readable PyTorch checkpoint" in _bad_checkpoint_error(p, tmp_path)


def test_truncated_weights_file(tmp_path):
    data = (SHARED / "weights" / "ntire2023_safmn_x4.pth").read_bytes()
    p = tmp_path / "truncated.pth"
    p.write_bytes(data[: len(data) // 2])
    assert "not a readable PyTorch checkpoint" in _bad_checkpoint_error(p, tmp_path)


def test_other_architecture_checkpoint(tmp_path):
    p = tmp_path / "other.pth"
    torch.save({"params": torch.nn.Conv2d(3, 8, 3).state_dict()}, p)
    assert "does not match any SAFMN architecture" in _bad_checkpoint_error(p, tmp_path)


def test_checkpoint_with_wrong_shapes(tmp_path):
    sd = torch.load(SHARED / "weights" / "ntire2023_safmn_x4.pth", weights_only=True)["params"]
    sd["feats.3.ccm.ccm.2.weight"] = torch.zeros(36, 50, 1, 1)
    p = tmp_path / "bad_shape.pth"
    torch.save({"params": sd}, p)
    assert "does not fit ntire23-safmn" in _bad_checkpoint_error(p, tmp_path)
