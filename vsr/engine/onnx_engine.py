"""The exported model run by onnxruntime (CPU, CUDA or TensorRT provider) behind the torch Engine's interface.

`OnnxEngine(module, scale, device, ...)` exports the model (checked against torch first, vsr/engine/onnx_export.py)
and runs the file. It takes what `Engine` takes: float tensors (N, 3, H, W) in [0, 1] (float32 CPU tensors out) or
integer frames (N, H, W, 3) uint8/uint16, numpy or torch (the same kind and dtype out, (N, sH, sW, 3)); the
conversions are vsr/engine/frames.py's, the same as the torch engine's.

- CPU provider: `session.run` on numpy arrays.
- CUDA / TensorRT providers (with a CUDA build of torch): IO binding under the same CUDA scheduler as the torch
  engine (vsr/engine/cuda.py: pinned slots, upload/compute/download streams, events). The frames go up as
  integers, become float on the GPU, are bound as the session's input by pointer, the output is bound to a torch
  CUDA tensor, quantised on the GPU and comes back as integers. Nothing goes through numpy.
- TensorRT: fp16 flag, engine and timing caches in <cache>/tensorrt, an explicit shape profile built from the
  first batch and widened (one rebuild, with a notice) when a batch falls outside it.

The pure parts (`parse_device`, `choose_providers`, `ShapeProfile`, `provider_options`, `tensorrt_cache_dir`) are
what the tests without a GPU check; docs/onnx.md says what has and has not run.
"""


from __future__ import annotations

import copy
import weakref
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
from torch import nn

from vsr.engine.frames import EngineBatch
from vsr.engine.interface import EngineStats, ScheduledEngine
from vsr.engine.onnx_export import MIN_FP16_PSNR_DB, export_bytes
from vsr.engine.onnx_providers import (
    CPU,
    INPUT,
    INSTALL_TENSORRT,
    OUTPUT,
    TRT,
    Dims,
    ShapeProfile,
    cache_model_file,
    choose_providers,
    first_line,
    import_onnxruntime,
    parse_device,
    provider_options,
    tensorrt_cache_dir,
    version_tuple,
)
from vsr.engine.schedulers import Scheduler, SyncScheduler
from vsr.errors import ConfigError, ModelError

# ---- the engine ------------------------------------------------------------------------------------------------


class OnnxEngine(ScheduledEngine):
    """The model exported and run by onnxruntime, a `FrameEngine` (see the module docstring).

    `backend`: "onnxruntime" (the best provider installed, as `choose_providers` orders them) or "tensorrt"
    (TensorRT required). `precision`: fp32 or fp16 (auto: fp16 on a GPU, else fp32). `device`: auto, cpu, cuda or
    cuda:N (the providers' device_id). `max_batch`: the largest batch the TensorRT profile takes (0: the first
    batch's). `input_shape` (N, H, W): build the TensorRT engine now for that batch instead of on the first
    batch. `io_binding`: None binds on the GPU providers only; True on the CPU binds CPU tensors (tests).
    """

    takes_yuv = True  # the batch's conversions are torch ops on the engine's device, around the session

    def __init__(self, module: nn.Module, scale: int, device: str = "cpu", threads: int = 0,
                 notice: Callable[[str], None] = print, precision: str = "fp32", backend: str = "onnxruntime",
                 *, max_batch: int = 0, input_shape: Dims | None = None, depth: int = 2,
                 cache_dir: str | Path | None = None, io_binding: bool | None = None) -> None:
        self._ort = import_onnxruntime()
        self.scale = scale
        self.notice = notice
        self.threads = threads
        self.backend = backend
        kind = self._choose_device_and_precision(device, precision)
        self.providers, notices = choose_providers(kind, backend, self._ort.get_available_providers())
        self.max_batch, self.cuda_depth = max_batch, max(1, depth)
        self.cache = Path(cache_dir) if cache_dir is not None else tensorrt_cache_dir()
        self.profile: ShapeProfile | None = None
        self._session = None
        self.active_providers: list[str] | None = None  # what the session really runs on
        notices += self._choose_binding(kind, io_binding)
        for n in notices:
            notice(n)
        self._trt = TRT in self.providers
        self._reference = copy.deepcopy(module) if self._trt and self.precision == "fp16" else None
        self._model = self._export(module)  # bytes, or the TensorRT cache's file
        self._stream = None
        self.scheduler = self._scheduler()
        if not self._trt:
            self._build()
            self._model = b""  # the session holds the model now
        elif input_shape is not None:
            self._session_for(*input_shape)

    def _scheduler(self) -> Scheduler:
        """On the GPU, the CUDA scheduler; onnxruntime runs on its compute stream (user_compute_stream), so its
        kernels queue behind the upload and the float conversion, and the quantisation and download behind its
        kernels, by stream order alone (its TensorRT provider syncs at the end of a run only for a user
        stream; the CUDA events around the run then also time onnxruntime's own kernels)."""
        if self.device.type != "cuda":
            return SyncScheduler(weakref.proxy(self), self.device)  # (no engine <-> scheduler cycle)
        from vsr.engine.cuda import CudaScheduler

        scheduler = CudaScheduler(weakref.proxy(self), self.device, depth=self.cuda_depth, notice=self.notice)
        self._stream = scheduler.compute_stream
        return scheduler

    def _choose_device_and_precision(self, device: str, precision: str) -> str:
        """Sets `device_id` and `precision` (auto resolved); returns the device kind, cpu or cuda."""
        if device == "auto":
            device = "cuda" if torch.cuda.is_available() or self.backend == "tensorrt" else "cpu"
        kind, self.device_id = parse_device(device)
        if precision == "auto":
            precision = "fp16" if kind == "cuda" else "fp32"
        if precision not in ("fp32", "fp16"):
            raise ConfigError("onnxruntime runs an exported fp32 or fp16 graph", setting="precision",
                              value=precision)
        self.precision = precision
        return kind

    def _choose_binding(self, kind: str, io_binding: bool | None) -> list[str]:
        """Sets `_gpu` (a GPU provider), `_bind` (IO binding) and `device`; returns the notices to give."""
        notices = []
        self._gpu = kind == "cuda" and self.providers[0] != CPU
        if self._gpu and not torch.cuda.is_available():
            notices.append("torch has no CUDA here: onnxruntime's GPU tensors go through host memory (no IO binding)")
        self._bind = (self._gpu and torch.cuda.is_available()) if io_binding is None else io_binding
        if self._bind and self._gpu and self.device_id >= torch.cuda.device_count():
            raise ConfigError(f"this machine has {torch.cuda.device_count()} CUDA device(s)", setting="device",
                              value=f"cuda:{self.device_id}")
        # where inputs are staged and computed: the GPU with IO binding, else the CPU (as `Engine.device`)
        self.device = torch.device("cuda", self.device_id) if self._bind and self._gpu else torch.device("cpu")
        return notices

    # ---- export and sessions -------------------------------------------------------------------------------

    @property
    def _graph_precision(self) -> str:
        # TensorRT gets the fp32 graph and its fp16 flag, not the fp16 file. ORT's TensorRT provider builds a weakly
        # typed network: with fp16 enabled TensorRT picks each layer's precision by speed, so the fp16 file's Cast
        # nodes (fp32 statistics inside) would not pin anything; they would only split fusions and add reformat
        # layers. From the fp32 graph TensorRT fuses freely and keeps fp32 where fp16 is not faster; the layer
        # norms' statistics stay fp32 (trt_layer_norm_fp32_fallback) and the first frame is checked against the
        # fp32 model (`_check_fp16`, >= 40 dB) because nothing else bounds what TensorRT chose.
        return "fp32" if self._trt else self.precision

    def _export(self, module: nn.Module) -> str | bytes:
        """The checked export: its bytes (the session holds the model), or with TensorRT a file in the cache."""
        # checked against torch on an image-like batch (fp32: 1e-4; fp16: 40 dB)
        data = export_bytes(module, self.scale, self._graph_precision)
        return str(cache_model_file(self.cache, data, self.precision)) if self._trt else data

    def _build(self) -> None:
        """(Re)create the session: at once without TensorRT, on the first batch (its profile) with it."""
        ort = self._ort
        opts = ort.SessionOptions()
        if self.threads:
            opts.intra_op_num_threads = self.threads
        stream = self._stream.cuda_stream if self._stream is not None else None
        options = provider_options(self.providers, f"cuda:{self.device_id}", self.precision, self.cache,
                                   self.profile, stream, tf32_option=version_tuple(ort.__version__) >= (1, 18))
        try:
            session = ort.InferenceSession(self._model, opts, providers=self.providers, provider_options=options)
        except Exception as exc:  # onnxruntime's errors (a failed TensorRT build) span pages
            raise ConfigError(f"onnxruntime could not start {self.providers[0]}: {first_line(exc)}") from exc
        active = session.get_providers()
        if self.backend == "tensorrt" and TRT not in active:
            raise ConfigError(f"onnxruntime could not load TensorRT (libnvinfer not found?): {INSTALL_TENSORRT}")
        if self._gpu and active[0] == CPU:
            if self.device.type == "cuda":
                raise ConfigError(f"onnxruntime could not load {self.providers[0]} on cuda:{self.device_id} "
                                  "(CUDA/cuDNN libraries?)", hint="install them, or use {device} cpu")
            self.notice(f"onnxruntime: {self.providers[0]} failed to load (CUDA/cuDNN libraries?); using the CPU")
        self._session, self.active_providers = session, active

    def _session_for(self, n: int, h: int, w: int):
        if self._trt:
            if self.profile is None:
                self.profile = ShapeProfile.first(n, h, w, self.max_batch)
                self._build()
            elif not self.profile.covers(n, h, w):
                wider = self.profile.widened(n, h, w)
                self.notice(f"TensorRT: a batch of {ShapeProfile.shape((n, h, w))} is outside the engine's "
                            f"profile {self.profile}; rebuilding it for {wider}")
                self.profile = wider
                self._build()
        return self._session

    # ---- running: the step the scheduler calls ----------------------------------------------------------------

    def describe(self) -> str:
        providers = ", ".join(self.active_providers or self.providers)
        out = f"onnxruntime {providers} {self.precision}"
        if self.device.type == "cuda":
            out += f", {self.device} IO binding"
        if self._trt:
            graph = "TensorRT fp16 flag on the fp32 graph" if self.precision == "fp16" else "fp32 graph"
            out += f", {graph}, profile {self.profile or 'from the first batch'}, cache {self.cache}"
        return out

    def stats(self) -> EngineStats:
        from vsr.engine.cuda import CudaScheduler

        times = self.scheduler.times if isinstance(self.scheduler, CudaScheduler) else None
        return EngineStats(self.depth, copy_times=times)

    def suggest_batch(self, height: int, width: int, cap: int = 32) -> int:
        """The TensorRT profile's largest batch where one is set, else 1 (no memory probe for onnxruntime)."""
        return max(1, min(cap, self.max_batch)) if self._trt and self.max_batch else 1

    def run(self, x: torch.Tensor, batch: EngineBatch) -> tuple[torch.Tensor, None]:
        """The scheduler's step: the batch (on the engine's device) through the session, packed back; no flags
        (the exported graph has no guard: fp16 is checked against torch at export and, for TensorRT, on the first
        frame)."""
        # dense NCHW float32 (the frames' float view is channels_last; onnxruntime reads NCHW)
        xf = batch.to_float(x).float().contiguous()
        y = self._run_bound(xf) if self._bind else self._run_session(xf)
        if self._reference is not None:
            self._check_fp16(xf, y)
        return batch.from_float(y), None

    def repair(self, x: torch.Tensor, out: torch.Tensor, flags: torch.Tensor, batch: EngineBatch) -> None:
        raise AssertionError("the onnxruntime step flags no frames")

    def _run_bound(self, x: torch.Tensor) -> torch.Tensor:
        """Run on a dense float32 NCHW tensor (CUDA, or CPU for the tests); input and output bound by pointer.

        The exported graphs take and give float32 whatever their precision (the fp16 file casts inside), so the
        bound buffers are float32 either way."""
        n, _, h, w = x.shape
        session = self._session_for(n, h, w)
        out = torch.empty(n, 3, h * self.scale, w * self.scale, dtype=torch.float32, device=x.device)
        kind, index = x.device.type, x.device.index or 0
        binding = session.io_binding()
        binding.bind_input(INPUT, kind, index, np.float32, tuple(x.shape), x.data_ptr())
        binding.bind_output(OUTPUT, kind, index, np.float32, tuple(out.shape), out.data_ptr())
        try:
            session.run_with_iobinding(binding)
        except Exception as exc:
            raise ModelError(f"onnxruntime failed on a batch of {tuple(x.shape)}: {first_line(exc)}") from exc
        return out

    def _run_session(self, x: torch.Tensor) -> torch.Tensor:
        """Float CPU tensor in, float32 CPU tensor out, through `session.run` on numpy."""
        session = self._session_for(x.shape[0], x.shape[2], x.shape[3])
        try:
            y = session.run([OUTPUT], {INPUT: x.detach().cpu().numpy()})[0]
        except Exception as exc:
            raise ModelError(f"onnxruntime failed on a batch of {tuple(x.shape)}: {first_line(exc)}") from exc
        return torch.from_numpy(y)

    def _check_fp16(self, x: torch.Tensor, y: torch.Tensor) -> None:
        """TensorRT fp16, once: the first frame against the fp32 torch model on the same GPU (>= 40 dB)."""
        from vsr.engine.device import psnr_db

        reference, self._reference = self._reference.float().to(self.device).eval(), None
        with torch.inference_mode():
            ref = reference(x[:1]).clamp_(0.0, 1.0)
        psnr = psnr_db(y[:1], ref)
        del reference
        if not psnr >= MIN_FP16_PSNR_DB:
            raise ConfigError(f"TensorRT fp16 is {psnr:.1f} dB from the fp32 model on the first frame "
                              f"(< {MIN_FP16_PSNR_DB} dB)", hint="use {precision} fp32")
        self.notice(f"TensorRT fp16: {psnr:.1f} dB from the fp32 model on the first frame")
