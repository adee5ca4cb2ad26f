"""Model cost from the real module graph: parameters, multiply-accumulates, activations, peak memory.

MACs are counted by forward hooks on the leaf modules during one forward pass of the real module graph
(on PyTorch's meta device by default: shapes without arithmetic), from the shapes the layers actually
produce (so adaptive pooling, pixel shuffle and odd sizes are what they are, not a formula):

- Conv2d: out_elements * (in_channels / groups) * kh * kw (depthwise convs included: groups = channels);
  ConvTranspose2d: in_elements * (out_channels / groups) * kh * kw; Linear: out_elements * in_features.
  Biases add no MACs. This is the convention of fvcore, which the SAFMN paper and the NTIRE efficient-SR
  challenges use under the name "FLOPs" (one FLOP there is one multiply-accumulate).
- Norms (LayerNorm, GRN, BatchNorm, GroupNorm) and activations (GELU, ReLU, ...) are counted apart, as the
  number of elements they produce: they cost memory traffic rather than MACs.
- Functional operations inside forward() (pooling, interpolation, the SAFM modulation product, residual
  additions) are not modules and are not counted; they are elementwise and small next to the convolutions.

"Activations" follow the NTIRE efficient-SR definition: the number of elements output by all conv layers.

Peak memory is measured apart (see `measure_peak_memory`) because it needs a fresh process.
"""

from __future__ import annotations

import copy
import json
import os
import subprocess
import sys
from dataclasses import asdict, dataclass, field

import torch
from torch import nn

from vsr.models.layers import GRN, LayerNorm

CONVS = (nn.Conv1d, nn.Conv2d, nn.Conv3d)
NORMS = (LayerNorm, GRN, nn.LayerNorm, nn.BatchNorm2d, nn.GroupNorm, nn.InstanceNorm2d)
ACTIVATIONS = (nn.GELU, nn.ReLU, nn.LeakyReLU, nn.PReLU, nn.SiLU, nn.Sigmoid, nn.Tanh, nn.Hardswish)


@dataclass
class LayerCost:
    name: str
    kind: str  # the module's class name
    category: str  # conv, linear, norm, act or other
    output_shape: tuple[int, ...]
    params: int
    macs: int
    elements: int  # elements of the output


@dataclass
class CostReport:
    model: str
    input_shape: tuple[int, ...]
    output_shape: tuple[int, ...]
    params: int
    macs: int  # convolutions and linear layers
    conv_layers: int
    activations: int  # elements output by all convs (NTIRE definition)
    norm_elements: int
    activation_fn_elements: int
    layers: list[LayerCost] = field(default_factory=list)
    peak_memory: dict | None = None  # from measure_peak_memory, when measured

    def to_dict(self, with_layers: bool = True) -> dict:
        d = asdict(self)
        if not with_layers:
            d.pop("layers")
        return d


def layer_macs(module: nn.Module, inputs: tuple, output: torch.Tensor) -> int:
    """MACs of one leaf layer for the shapes it saw; 0 for layers that do no multiply-accumulates."""
    if isinstance(module, CONVS):
        k = 1
        for s in module.kernel_size:
            k *= s
        return output.numel() * (module.in_channels // module.groups) * k
    if isinstance(module, nn.ConvTranspose2d):
        kh, kw = module.kernel_size
        return inputs[0].numel() * (module.out_channels // module.groups) * kh * kw
    if isinstance(module, nn.Linear):
        return output.numel() * module.in_features
    return 0


def category(module: nn.Module) -> str:
    if isinstance(module, (*CONVS, nn.ConvTranspose2d)):
        return "conv"
    if isinstance(module, nn.Linear):
        return "linear"
    if isinstance(module, NORMS):
        return "norm"
    if isinstance(module, ACTIVATIONS):
        return "act"
    return "other"


def count_cost(
    module: nn.Module, input_shape: tuple[int, ...], name: str = "model", device: str = "meta"
) -> CostReport:
    """Run a copy of `module` once on an input of `input_shape` (N, C, H, W) and count per layer.

    On the default "meta" device PyTorch propagates shapes through the real forward() without doing the
    arithmetic: the same graph and output shapes as a real run, in a fraction of a second at any size.
    """
    module = copy.deepcopy(module).to(device)
    layers: list[LayerCost] = []
    handles = []

    def hook(name: str):
        def record(mod: nn.Module, inputs: tuple, output: torch.Tensor) -> None:
            if not isinstance(output, torch.Tensor):
                return
            params = sum(p.numel() for p in mod.parameters(recurse=False))
            layers.append(LayerCost(name, type(mod).__name__, category(mod), tuple(output.shape), params,
                                    layer_macs(mod, inputs, output), output.numel()))
        return record

    for layer_name, mod in module.named_modules():
        if not any(True for _ in mod.children()):  # leaves only: containers would count twice
            handles.append(mod.register_forward_hook(hook(layer_name)))
    module.eval()
    try:
        with torch.inference_mode():
            out = module(torch.zeros(input_shape, device=device))
    finally:
        for h in handles:
            h.remove()
    convs = [lc for lc in layers if lc.category == "conv"]
    return CostReport(
        model=name,
        input_shape=tuple(input_shape),
        output_shape=tuple(out.shape),
        params=sum(p.numel() for p in module.parameters()),
        macs=sum(lc.macs for lc in layers),
        conv_layers=len(convs),
        activations=sum(lc.elements for lc in convs),
        norm_elements=sum(lc.elements for lc in layers if lc.category == "norm"),
        activation_fn_elements=sum(lc.elements for lc in layers if lc.category == "act"),
        layers=layers,
    )


def measure_peak_memory(arch_fields: dict, input_shape: tuple[int, ...], device: str = "cpu") -> dict:
    """Peak memory of one fp32 forward pass of an untrained model, measured in a fresh Python process.

    CPU: the rise of the process's peak resident set size (VmHWM) over its resident size just before the
    forward pass, after resetting the peak (Linux `/proc/self/clear_refs`); it includes PyTorch's and oneDNN's
    working buffers, the output and allocator overhead, not the weights or the input. CUDA: the rise of
    `torch.cuda.max_memory_allocated` over the allocation before the pass (tensors only).
    A fresh process is needed because freed memory stays in a long-running process's heap.
    """
    code = "import sys; from vsr.metrics.cost import _probe_main; _probe_main(sys.argv[1:])"
    args = [json.dumps(arch_fields), json.dumps(list(input_shape)), device]
    result = subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True)
    if result.returncode != 0:
        tail = (result.stderr.strip().splitlines() or ["no output"])[-1]
        return {"method": "failed", "error": tail[:200]}
    return json.loads(result.stdout.strip().splitlines()[-1])


def _status_kib(field_name: str) -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field_name + ":"):
                return int(line.split()[1])
    raise OSError(f"{field_name} not in /proc/self/status")


def _probe_main(argv: list[str]) -> None:
    """The child process of `measure_peak_memory`: build, measure one forward, print one JSON line."""
    from vsr.models import ArchSpec

    arch = ArchSpec(**json.loads(argv[0]))
    shape = tuple(json.loads(argv[1]))
    device = torch.device(argv[2])
    torch.set_num_threads(max(1, min(4, os.cpu_count() or 1)))
    model = arch.build().eval().to(device)
    x = torch.rand(shape, device=device)
    with torch.inference_mode():
        if device.type == "cuda":
            torch.cuda.synchronize()
            torch.cuda.reset_peak_memory_stats(device)
            before = torch.cuda.memory_allocated(device)
            model(x)
            torch.cuda.synchronize()
            peak = torch.cuda.max_memory_allocated(device) - before
            print(json.dumps({"method": "cuda max_memory_allocated rise", "bytes": int(peak)}))
            return
        try:
            with open("/proc/self/clear_refs", "w") as f:
                f.write("5")  # reset VmHWM to the current RSS
        except OSError as exc:
            print(json.dumps({"method": "unavailable", "error": f"cannot reset peak RSS: {exc}"}))
            return
        before = _status_kib("VmRSS")
        model(x)
        peak = _status_kib("VmHWM") - before
        print(json.dumps({"method": "cpu peak RSS rise (VmHWM) in a fresh process", "bytes": peak * 1024}))
