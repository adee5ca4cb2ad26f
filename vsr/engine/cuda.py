"""CUDA data movement: integer frames through pinned buffers, three streams, and no host synchronisation in submit.

`CudaPipeline.submit(x)` stages a CPU batch (uint8/uint16 frames, or float) into a pinned buffer, uploads it on the
upload stream, runs `run` on the compute stream once the upload's event has fired (conversion to float, the
model, the numeric guard's per-frame flags and the quantisation back to integers all happen there), and queues the
download of the result and the flags into pinned buffers on the download stream. Uploads and downloads have a
stream each: on one shared stream the upload of batch k+1 would queue behind the download of batch k, which waits
for k's compute. Nothing in `submit` waits for the GPU, so the caller prepares batch k+1 while k computes.

`collect()` waits only for the oldest batch's download, reads its guard flags (already on the host by then) and
lets `repair` recompute the flagged frames from the slot's input, which stays in its pinned buffer until then.

Integrated GPUs (Jetson) share memory with the CPU: the pinned staging copy of the input would be a pure extra
memcpy, so the caller's batch is copied to the device directly (`staging=False`).
"""

from __future__ import annotations

import contextlib
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Protocol

import torch

from vsr.engine.tiling import is_out_of_memory

Run = Callable[[torch.Tensor], tuple[torch.Tensor, torch.Tensor]]
Repair = Callable[[torch.Tensor, torch.Tensor, torch.Tensor], None]
EventPair = tuple[torch.cuda.Event, torch.cuda.Event]


class Staged(Protocol):
    """A batch that packs itself into the staging buffer (YUV planes: straight from the decoder's buffers)."""

    shape: torch.Size
    dtype: torch.dtype

    def fill(self, out: torch.Tensor) -> torch.Tensor: ...


@dataclass
class CopyTimes:
    """Accumulated GPU-side times (ms) of each kind of work, read from CUDA events once a batch is collected."""

    h2d_ms: float = 0.0
    compute_ms: float = 0.0
    d2h_ms: float = 0.0
    batches: int = 0
    h2d_bytes: int = 0
    d2h_bytes: int = 0

    def add(self, h2d: EventPair, compute: EventPair, d2h: EventPair) -> None:
        """One collected batch's times: each argument the (start, end) events of that kind of work."""
        self.h2d_ms += h2d[0].elapsed_time(h2d[1])
        self.compute_ms += compute[0].elapsed_time(compute[1])
        self.d2h_ms += d2h[0].elapsed_time(d2h[1])
        self.batches += 1


@dataclass
class _Slot:
    """Host buffers and events of one batch in flight; reused once that batch has been collected."""

    host_in: torch.Tensor | None = None
    host_out: torch.Tensor | None = None
    host_flags: torch.Tensor | None = None
    events: list[torch.cuda.Event] = field(default_factory=list)
    repair: Repair | None = None


def _event() -> torch.cuda.Event:
    return torch.cuda.Event(enable_timing=True)


@contextlib.contextmanager
def math_flags(exact: bool, benchmark: bool) -> Iterator[None]:
    """cuDNN/cuBLAS settings for one model call: TF32 off when fp32 must be exact (Ampere and later use TF32 for
    fp32 convolutions by default, ~1e-3 relative error), cudnn.benchmark for the fixed shapes of a video."""
    saved = (torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.benchmark)
    torch.backends.cudnn.allow_tf32 = not exact
    torch.backends.cuda.matmul.allow_tf32 = not exact
    torch.backends.cudnn.benchmark = benchmark
    try:
        yield
    finally:
        (torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32,
         torch.backends.cudnn.benchmark) = saved


class CudaPipeline:
    """Runs each batch's `run` (device batch in, (device result, device flags) out) with overlapped copies.

    `depth` batches may be in flight; `submit` raises when all slots are busy (collect first), which bounds the
    pinned memory to `depth` sets of buffers.
    """

    def __init__(self, device: torch.device, depth: int = 2, staging: bool = True,
                 notice: Callable[[str], None] | None = None) -> None:
        self.device = device
        self.staging = staging
        self.notice = notice or (lambda msg: None)
        self.upload_stream = torch.cuda.Stream(device)
        self.download_stream = torch.cuda.Stream(device)
        self.compute_stream = torch.cuda.Stream(device)
        self.slots = [_Slot() for _ in range(depth)]
        self.free = deque(range(depth))
        self.in_flight: deque[int] = deque()
        self.times = CopyTimes()
        self._pageable = False  # set after pinned memory ran out: slower (synchronous) copies, never wrong

    def __len__(self) -> int:
        return len(self.in_flight)

    def _host(self, buf: torch.Tensor | None, shape: torch.Size, dtype: torch.dtype) -> torch.Tensor:
        if buf is not None and buf.shape == shape and buf.dtype == dtype:
            return buf
        if not self._pageable:
            try:
                return torch.empty(shape, dtype=dtype, pin_memory=True)
            except RuntimeError as exc:
                if not is_out_of_memory(exc):
                    raise
                self._pageable = True
                self.notice("out of pinned host memory: copying through pageable memory (slower)")
        return torch.empty(shape, dtype=dtype)

    def submit(self, x: torch.Tensor | Staged, run: Run, repair: Repair) -> None:
        """Queue one CPU batch (a tensor, or anything with shape, dtype and `fill(buffer)`); returns once its input
        has been staged, not once it has run. `repair(input, result, flags)` fixes the result at collect."""
        if not self.free:
            raise RuntimeError("CudaPipeline: all slots busy; collect() before submitting more")
        index = self.free.popleft()
        try:
            self._queue(self.slots[index], x, run)
            self.slots[index].repair = repair
        except BaseException:
            # The slot goes back (an out-of-memory error must not lose it), once nothing still reads its buffers.
            self.upload_stream.synchronize()
            self.free.appendleft(index)
            raise
        self.in_flight.append(index)

    def _queue(self, slot: _Slot, x: torch.Tensor | Staged, run: Run) -> None:
        staged = self.staging or not isinstance(x, torch.Tensor)
        if staged:
            slot.host_in = self._host(slot.host_in, x.shape, x.dtype)
            # the only host-side copy; this slot's last upload finished before it was collected
            if isinstance(x, torch.Tensor):
                slot.host_in.copy_(x)
            else:
                x.fill(slot.host_in)
        else:
            slot.host_in = x
        # Each stream's start event fires when that stream reaches it, so start->end is the work itself.
        h2d_start, h2d_end, run_start, run_end, d2h_start, d2h_end = (_event() for _ in range(6))
        with torch.cuda.stream(self.upload_stream):
            h2d_start.record()
            x_dev = slot.host_in.to(self.device, non_blocking=staged)  # (from pageable memory: synchronous)
            h2d_end.record()
        self.compute_stream.wait_event(h2d_end)
        with torch.cuda.stream(self.compute_stream):
            run_start.record()
            x_dev.record_stream(self.compute_stream)  # allocated on the upload stream, used here
            y, flags = run(x_dev)
            run_end.record()
        slot.host_out = self._host(slot.host_out, y.shape, y.dtype)
        slot.host_flags = self._host(slot.host_flags, flags.shape, flags.dtype)
        self.download_stream.wait_event(run_end)
        with torch.cuda.stream(self.download_stream):
            d2h_start.record()
            y.record_stream(self.download_stream)
            flags.record_stream(self.download_stream)
            slot.host_out.copy_(y, non_blocking=True)
            slot.host_flags.copy_(flags, non_blocking=True)
            d2h_end.record()
        slot.events = [h2d_start, h2d_end, run_start, run_end, d2h_start, d2h_end]
        self.times.h2d_bytes += slot.host_in.numel() * slot.host_in.element_size()
        self.times.d2h_bytes += y.numel() * y.element_size()

    def oldest_ready(self) -> bool:
        """Whether `collect()` would return at once (the oldest batch's download has finished)."""
        return bool(self.in_flight) and self.slots[self.in_flight[0]].events[-1].query()

    def collect(self) -> torch.Tensor:
        """Wait for the oldest batch and return its result as a CPU tensor of its own (flagged frames repaired)."""
        index = self.in_flight.popleft()
        slot = self.slots[index]
        try:
            h2d_start, h2d_end, run_start, run_end, d2h_start, d2h_end = slot.events
            d2h_end.synchronize()  # also means the slot's upload is done: the download waited for it via compute
            assert slot.host_out is not None and slot.host_flags is not None and slot.host_in is not None
            out = slot.host_out.clone()  # the pinned buffer is reused by a later batch
            if bool(slot.host_flags.any()):
                assert slot.repair is not None
                slot.repair(slot.host_in, out, slot.host_flags)
            self.times.add((h2d_start, h2d_end), (run_start, run_end), (d2h_start, d2h_end))
        finally:
            if not self.staging:
                slot.host_in = None  # the caller's tensor: do not keep it alive
            self.free.append(index)
        return out


def is_integrated(device: torch.device) -> bool:
    """A GPU that shares the host's memory (Jetson): host staging and host-memory limits work differently there."""
    return bool(torch.cuda.get_device_properties(device).is_integrated)


def host_available_bytes() -> int | None:
    """MemAvailable from /proc/meminfo (Linux), or None."""
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return None


def auto_batch(probe: Callable[[int], None], device: torch.device, host_bytes_per_frame: int, depth: int,
               cap: int = 32, headroom: float = 0.6, host_share: float = 0.25) -> int:
    """The largest batch (<= cap) whose peak GPU memory fits `headroom` of the free GPU memory and whose pinned
    buffers (`depth` batches in flight, `host_bytes_per_frame` each) fit `host_share` of the available host memory.

    `probe(n)` runs one batch of n realistic frames; its peak allocation at batch 1 and 2 gives the per-frame cost.
    """
    peaks = []
    for n in (1, 2):
        torch.cuda.synchronize(device)
        torch.cuda.reset_peak_memory_stats(device)
        base = torch.cuda.memory_allocated(device)
        probe(n)
        torch.cuda.synchronize(device)
        peaks.append(torch.cuda.max_memory_allocated(device) - base)
    per_frame = max(peaks[1] - peaks[0], peaks[0] // 2, 1)
    free, _total = torch.cuda.mem_get_info(device)
    batch = int(free * headroom // per_frame)
    host = host_available_bytes()
    if host is not None and not is_integrated(device):  # integrated: the device figure above is the same memory
        batch = min(batch, int(host * host_share // max(1, depth * host_bytes_per_frame)))
    return max(1, min(cap, batch))
