"""ONNX export of a model (dynamic batch, height and width) and an onnxruntime session to run it.

The graph is recorded by torch's TorchScript-based exporter (`dynamo=False`): it needs no extra package and keeps
the sizes SAFM derives from the frame symbolic (see vsr/models/export_ops.py for the pooling).
"""

from __future__ import annotations

import contextlib
import warnings
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from vsr.errors import VSRError

DEFAULT_OPSET = 17


@dataclass
class ExportReport:
    path: str
    opset: int
    scale: int
    max_abs_error: float  # onnxruntime vs torch on a check frame (fp32)


def export_onnx(module: nn.Module, scale: int, path: str | Path, opset: int = DEFAULT_OPSET,
                check: bool = True) -> ExportReport:
    """Write `module` (fp32, CPU, eval) as ONNX with input "lr" (N, 3, H, W) and output "sr" (N, 3, sH, sW)."""
    if opset < 13:
        raise VSRError(f"--opset {opset}: use 13 or later")
    path = Path(path)
    if not path.resolve().parent.is_dir():
        raise VSRError(f"{path}: no such directory")
    module = module.float().cpu().eval()
    example = torch.rand(1, 3, 40, 56, generator=torch.Generator().manual_seed(0))
    tmp = path.with_name(path.name + ".part")
    try:
        with torch.inference_mode(False), torch.no_grad(), _one_line_errors(), warnings.catch_warnings():
            # the TorchScript exporter is deprecated in favour of torch.export, which cannot keep SAFM's pooled
            # sizes symbolic; the warning says nothing the user can act on
            warnings.simplefilter("ignore", DeprecationWarning)
            torch.onnx.export(module, (example,), str(tmp), input_names=["lr"], output_names=["sr"],
                              opset_version=opset, dynamo=False,
                              dynamic_axes={"lr": {0: "batch", 2: "height", 3: "width"},
                                            "sr": {0: "batch", 2: "out_height", 3: "out_width"}})
        err = float("nan")
        if check:  # a different size and batch from the example: proves the axes really are dynamic
            x = _smooth_frame(2, 45, 37)
            with torch.no_grad():
                ref = module(x)
            got = torch.from_numpy(OnnxRunner(tmp, "cpu").run(x.numpy()))
            if got.shape != ref.shape:
                raise VSRError(f"ONNX export gave shape {tuple(got.shape)} instead of {tuple(ref.shape)}")
            err = (got - ref).abs().max().item()
            if not err <= 1e-4:
                raise VSRError(f"ONNX export differs from torch by {err:.3g} (> 1e-4)")
        tmp.replace(path)
    finally:
        tmp.unlink(missing_ok=True)
    return ExportReport(str(path), opset, scale, err)


@contextlib.contextmanager
def _one_line_errors():
    try:
        yield
    except VSRError:
        raise
    except Exception as exc:  # the exporter's errors span pages; the user gets their first line
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise VSRError(f"ONNX export failed: {first}") from exc


def _smooth_frame(n: int, h: int, w: int) -> torch.Tensor:
    """An image-like batch: on white noise the SAFMN++ family's output reaches 1e26 (ill-conditioned, see
    vsr/models/layers.py), which would make any comparison meaningless."""
    coarse = torch.rand(n, 3, max(2, h // 8), max(2, w // 8), generator=torch.Generator().manual_seed(1))
    return torch.nn.functional.interpolate(coarse, size=(h, w), mode="bicubic", align_corners=False).clamp(0, 1)


def onnx_providers(device: str) -> tuple[list[str], list[str]]:
    """(providers to use, notices): TensorRT, then CUDA, on a GPU device when installed; the CPU always last."""
    import onnxruntime as ort

    available = ort.get_available_providers()
    notices: list[str] = []
    wanted = ["CPUExecutionProvider"]
    if device != "cpu":
        if "CUDAExecutionProvider" in available:
            wanted.insert(0, "CUDAExecutionProvider")
            if "TensorrtExecutionProvider" in available:
                wanted.insert(0, "TensorrtExecutionProvider")
            else:
                notices.append("onnxruntime: TensorRT execution provider not installed; using CUDA")
        elif device.startswith("cuda"):
            notices.append("onnxruntime: CUDA execution provider not installed; using the CPU")
    return wanted, notices


class OnnxRunner:
    """An onnxruntime InferenceSession on an exported file: float32 (N, 3, H, W) numpy in, (N, 3, sH, sW) out."""

    def __init__(self, path: str | Path, device: str = "cpu", threads: int = 0) -> None:
        try:
            import onnxruntime as ort
        except ImportError:
            raise VSRError("onnxruntime is not installed (pip install .[onnx])") from None
        self.providers, self.notices = onnx_providers(device)
        opts = ort.SessionOptions()
        if threads:
            opts.intra_op_num_threads = threads
        self.session = ort.InferenceSession(str(path), opts, providers=self.providers)
        self.providers = self.session.get_providers()

    def run(self, x):
        return self.session.run(["sr"], {"lr": x})[0]


class OnnxEngine:
    """The model exported and run by onnxruntime, behind the part of `Engine`'s interface the bench uses:
    float32 (N, 3, H, W) in [0, 1] on the CPU in, float32 (N, 3, sH, sW) clamped to [0, 1] on the CPU out.
    Always fp32 (what the export writes); the session's tensors go through host memory."""

    def __init__(self, module: nn.Module, scale: int, device: str = "cpu", threads: int = 0, notice=print) -> None:
        import tempfile

        self.scale = scale
        self.device = torch.device("cpu")  # where inputs and outputs live
        self.precision = "fp32"
        self.copy_times = None
        with tempfile.TemporaryDirectory(prefix="vsr-onnx-") as tmp:
            path = Path(tmp) / "model.onnx"
            export_onnx(module, scale, path)  # checked against torch on an image-like batch (fp32, 1e-4)
            if device == "auto":
                device = "cuda" if torch.cuda.is_available() else "cpu"
            self.runner = OnnxRunner(path, device, threads)
        for n in self.runner.notices:
            notice(n)
        self._pending: list[torch.Tensor] = []

    def describe(self) -> str:
        return f"onnxruntime {', '.join(self.runner.providers)} fp32"

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        y = self.runner.run(x.detach().float().cpu().contiguous().numpy())
        return torch.from_numpy(y).clamp_(0.0, 1.0)

    def submit(self, x: torch.Tensor) -> None:
        self._pending.append(self(x))

    def collect(self) -> torch.Tensor:
        return self._pending.pop(0)

    @property
    def in_flight(self) -> int:
        return len(self._pending)

    @property
    def can_submit(self) -> bool:
        return not self._pending
