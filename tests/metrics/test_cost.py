"""MAC, parameter and activation counting: a tiny net by hand, the SAFMN family against PyTorch's FLOP counter."""

from __future__ import annotations

import json

import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from vsr.metrics.cost import count_cost
from vsr.models.layers import LayerNorm
from vsr.models.registry import REGISTRY

from ..conftest import run_cli


class Tiny(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 8, 3, padding=1)  # 3*8*9 + 8 = 224 params
        self.dw = nn.Conv2d(8, 8, 3, padding=1, groups=8, bias=False)  # 72 params
        self.norm = LayerNorm(8)  # 16 params
        self.act = nn.GELU()
        self.down = nn.Conv2d(8, 4, 1, stride=2)  # 36 params
        self.fc = nn.Linear(6, 5)  # 35 params
        self.shuffle = nn.PixelShuffle(2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.act(self.norm(self.dw(self.conv(x))))
        return self.shuffle(self.fc(self.down(x)))


def test_tiny_net_counted_by_hand():
    r = count_cost(Tiny(), (1, 3, 10, 12))
    # conv: 8x10x12 outputs, 3*3*3 MACs each = 25,920; depthwise: 960 outputs x 9 = 8,640;
    # 1x1 stride 2: 4x5x6 = 120 outputs x 8 = 960; linear on the last dim (6 -> 5): 4*5*5 = 100 outputs x 6 = 600.
    assert r.macs == 25_920 + 8_640 + 960 + 600
    assert r.params == 224 + 72 + 16 + 36 + 35
    assert r.conv_layers == 3
    assert r.activations == 960 + 960 + 120
    assert r.norm_elements == 960 and r.activation_fn_elements == 960
    assert r.output_shape == (1, 1, 10, 10)
    by_name = {lc.name: lc for lc in r.layers}
    assert by_name["dw"].macs == 8_640 and by_name["dw"].params == 72
    assert by_name["shuffle"].macs == 0 and by_name["shuffle"].output_shape == (1, 1, 10, 10)


def test_counts_match_torch_flop_counter_and_a_real_cpu_run():
    # PyTorch's own counter sees every aten convolution (2 FLOPs per MAC): an independent check that the hooks
    # miss no conv of any family, including the pooled SAFM levels at an odd size. Both run on the meta device.
    for name in ("safmn-x4", "ntire23-safmn-x4", "safmnpp-x4", "safmnpp-light-x4", "safmn-x2"):
        model = REGISTRY[name].arch.build().eval()
        ours = count_cost(model, (1, 3, 23, 37))
        with FlopCounterMode(display=False) as counter, torch.inference_mode():
            model.to("meta")(torch.zeros(1, 3, 23, 37, device="meta"))
        assert 2 * ours.macs == counter.get_total_flops(), name
        assert ours.params == sum(p.numel() for p in model.parameters())
    # the meta device gives the shapes (and so the counts) of a real run
    model = REGISTRY["safmnpp-light-x4"].arch.build()
    assert count_cost(model, (1, 3, 23, 37), device="cpu") == count_cost(model, (1, 3, 23, 37))
    assert next(model.parameters()).device.type == "cpu"  # the caller's model is untouched


def test_paper_safmn_x4_at_720p_output_is_the_papers_240k_and_14g():
    # The SAFMN paper: 240K parameters, 14G "FLOPs" (fvcore, i.e. MACs) for a 1280x720 output at x4.
    r = count_cost(REGISTRY["safmn-x4"].arch.build(), (1, 3, 180, 320))
    assert round(r.params / 1e3) == 240
    assert round(r.macs / 1e9) == 14
    assert r.output_shape == (1, 3, 720, 1280)


def test_cost_command_json_and_errors(tmp_path):
    out = tmp_path / "cost.json"
    result = run_cli("cost", "--model", "safmnpp-light-x4", "--input-size", "64x48", "--json", str(out))
    assert result.returncode == 0, result.stderr
    report = json.loads(out.read_text())
    assert report["params"] == 66_176
    assert report["output_shape"] == [1, 3, 192, 256]
    expected = count_cost(REGISTRY["safmnpp-light-x4"].arch.build(), (1, 3, 48, 64))
    assert report["macs"] == expected.macs and len(report["layers"]) == len(expected.layers)
    # one forward at this size needs at least its output and the widest feature map
    assert report["peak_memory"]["bytes"] > 4 * (3 * 192 * 256 + 48 * 48 * 64)
    assert "MACs" in result.stdout and "feats.1" in result.stdout
    bad = run_cli("cost", "--model", "safmn-x4", "--input-size", "big")
    assert bad.returncode == 2 and len(bad.stderr.strip().splitlines()) == 1
