"""ONNX export of a model (dynamic batch, height and width), checked in onnxruntime before it is written.

The graph is recorded by torch's TorchScript-based exporter (`dynamo=False`), which keeps the sizes SAFM derives
from the frame symbolic (see vsr/models/export_ops.py for the pooling). It needs the onnx package (recent torch
builds the model proto with it: torch 2.11 fails without it), checked first with a one-line error. Running the file
(providers, TensorRT, IO binding) is vsr/engine/onnx_engine.py.
"""

from __future__ import annotations

import contextlib
import tempfile
import warnings
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from vsr.engine.onnx_providers import first_line, import_onnxruntime, require_onnx
from vsr.errors import ConfigError, InputError, ModelError, VSRError
from vsr.fs import atomic_path
from vsr.models.export_ops import export_forms

DEFAULT_OPSET = 17


# An fp16 file must keep this fidelity against the fp32 model (the project's bound for reduced precision).
MIN_FP16_PSNR_DB = 40.0


@dataclass
class ExportReport:
    path: str
    opset: int
    scale: int
    max_abs_error: float  # onnxruntime vs the fp32 torch model on a check frame
    precision: str = "fp32"
    psnr_db: float | None = None  # the same comparison as PSNR (fp16 files)


class HalfPrecision(nn.Module):
    """The model with fp16 weights and activations behind float32 input and output, so the exported file takes
    the same arrays as the fp32 one. The normalisation layers keep their statistics in fp32 (Cast nodes)."""

    def __init__(self, module: nn.Module) -> None:
        super().__init__()
        self.model = module.half()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x.half()).float()


def export_onnx(module: nn.Module, scale: int, path: str | Path, opset: int = DEFAULT_OPSET,
                check: bool = True, precision: str = "fp32") -> ExportReport:
    """Write `module` (CPU, eval) as ONNX with float32 input "lr" (N, 3, H, W) and output "sr" (N, 3, sH, sW).

    `precision` fp16 computes in half precision inside the graph (for TensorRT and GPUs; the check then bounds
    its PSNR against the fp32 model instead of the error).
    """
    if opset < 13:
        raise ConfigError("use 13 or later", setting="opset", value=opset)
    if precision not in ("fp32", "fp16"):
        raise ConfigError("use fp32 or fp16", setting="precision", value=precision)
    path = Path(path)
    if not path.resolve().parent.is_dir():
        raise InputError(f"{path}: no such directory")
    require_onnx()
    if check:
        import_onnxruntime()  # the check runs the file: say so before the export, not after it
    module = module.float().cpu().eval()
    reference = module
    if precision == "fp16":
        import copy

        module = HalfPrecision(copy.deepcopy(module)).eval()
    example = torch.rand(1, 3, 40, 56, generator=torch.Generator().manual_seed(0))
    with atomic_path(path) as tmp:  # the file appears only once checked
        with torch.inference_mode(False), torch.no_grad(), _one_line_errors(), warnings.catch_warnings():
            # the TorchScript exporter is deprecated in favour of torch.export, which cannot keep SAFM's pooled
            # sizes symbolic; the warning says nothing the user can act on
            warnings.simplefilter("ignore", DeprecationWarning)
            with export_forms():  # the graph forms of the model's frame-dependent ops
                torch.onnx.export(module, (example,), str(tmp), input_names=["lr"], output_names=["sr"],
                                  opset_version=opset, dynamo=False,
                                  dynamic_axes={"lr": {0: "batch", 2: "height", 3: "width"},
                                                "sr": {0: "batch", 2: "out_height", 3: "out_width"}})
        err, psnr = float("nan"), None
        if check:  # a different size and batch from the example: proves the axes really are dynamic
            x = _smooth_frame(2, 45, 37)
            with torch.no_grad():
                ref = reference(x)
            got = torch.from_numpy(_run_on_cpu(tmp, x.numpy()))
            if got.shape != ref.shape:
                raise ModelError(f"ONNX export gave shape {tuple(got.shape)} instead of {tuple(ref.shape)}")
            err = (got - ref).abs().max().item()
            if precision == "fp32" and not err <= 1e-4:
                raise ModelError(f"ONNX export differs from torch by {err:.3g} (> 1e-4)")
            if precision == "fp16":
                from vsr.engine.device import psnr_db

                psnr = psnr_db(got, ref)
                if not psnr >= MIN_FP16_PSNR_DB:
                    raise ConfigError(f"fp16 ONNX export is {psnr:.1f} dB from the fp32 model "
                                      f"(< {MIN_FP16_PSNR_DB} dB)")
    return ExportReport(str(path), opset, scale, err, precision, psnr)


def export_bytes(module: nn.Module, scale: int, precision: str = "fp32") -> bytes:
    """The checked export (`export_onnx`) as bytes, for a caller that keeps the model in memory."""
    with tempfile.TemporaryDirectory(prefix="vsr-onnx-") as tmp:
        path = Path(tmp) / "model.onnx"
        export_onnx(module, scale, path, precision=precision)
        return path.read_bytes()


@contextlib.contextmanager
def _one_line_errors():
    try:
        yield
    except VSRError:
        raise
    except Exception as exc:  # the exporter's errors span pages; the user gets their first line
        raise ModelError(f"ONNX export failed: {first_line(exc)}") from exc


def _smooth_frame(n: int, h: int, w: int) -> torch.Tensor:
    """An image-like batch: on white noise the SAFMN++ family's output reaches 1e26 (ill-conditioned, see
    vsr/models/layers.py), which would make any comparison meaningless."""
    coarse = torch.rand(n, 3, max(2, h // 8), max(2, w // 8), generator=torch.Generator().manual_seed(1))
    return torch.nn.functional.interpolate(coarse, size=(h, w), mode="bicubic", align_corners=False).clamp(0, 1)


def _run_on_cpu(path: Path, x):
    session = import_onnxruntime().InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return session.run(["sr"], {"lr": x})[0]

