"""CUDA data movement: pinned host buffers, copies on their own stream, results copied back behind the next batch.

`CudaPipeline.submit(x)` stages a CPU batch into a pinned buffer, copies it to the GPU on the upload stream
(non_blocking), runs the model on the compute stream once the copy's event has fired, and queues the copy of the
result back into another pinned buffer on the download stream. Uploads and downloads have a stream each: on one
shared stream the upload of batch k+1 would queue behind the download of batch k, which waits for k's compute.
`collect()` waits only for the oldest batch, so while the caller collects batch k the GPU already computes
batch k+1, and the download of batch k overlaps that compute.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

import torch


@dataclass
class CopyTimes:
    """Accumulated GPU-side times (ms) of each kind of work, read from CUDA events once a batch is collected."""

    h2d_ms: float = 0.0
    compute_ms: float = 0.0
    d2h_ms: float = 0.0
    batches: int = 0
    h2d_bytes: int = 0
    d2h_bytes: int = 0


@dataclass
class _Slot:
    """Pinned buffers and events of one batch in flight; reused once that batch has been collected."""

    pinned_in: torch.Tensor | None = None
    pinned_out: torch.Tensor | None = None
    events: list[torch.cuda.Event] = field(default_factory=list)


def _event() -> torch.cuda.Event:
    return torch.cuda.Event(enable_timing=True)


class CudaPipeline:
    """Runs `forward` (device tensor in, float32 device tensor out) on CPU batches with overlapped copies.

    `depth` batches may be in flight; `submit` blocks (on the oldest batch) when all slots are busy, which bounds
    the pinned memory to `depth` input and output buffers.
    """

    def __init__(self, forward: Callable[[torch.Tensor], torch.Tensor], device: torch.device, depth: int = 2):
        self.forward = forward
        self.device = device
        self.upload_stream = torch.cuda.Stream(device)
        self.download_stream = torch.cuda.Stream(device)
        self.compute_stream = torch.cuda.Stream(device)
        self.slots = [_Slot() for _ in range(depth)]
        self.free = deque(range(depth))
        self.in_flight: deque[int] = deque()
        self.times = CopyTimes()

    def __len__(self) -> int:
        return len(self.in_flight)

    @staticmethod
    def _pinned(buf: torch.Tensor | None, shape: torch.Size, dtype: torch.dtype) -> torch.Tensor:
        if buf is None or buf.shape != shape or buf.dtype != dtype:
            buf = torch.empty(shape, dtype=dtype, pin_memory=True)
        return buf

    def submit(self, x: torch.Tensor) -> None:
        """Queue one CPU batch; returns once its input has been staged (not once it has run)."""
        if not self.free:
            raise RuntimeError("CudaPipeline: all slots busy; collect() before submitting more")
        index = self.free.popleft()
        slot = self.slots[index]
        slot.pinned_in = self._pinned(slot.pinned_in, x.shape, x.dtype)
        slot.pinned_in.copy_(x)  # the only host-side copy; this slot's last upload finished before it was collected
        # Each stream's start event fires when that stream reaches it, so start->end is the work itself.
        h2d_start, h2d_end, run_start, run_end, d2h_start, d2h_end = (_event() for _ in range(6))
        with torch.cuda.stream(self.upload_stream):
            h2d_start.record()
            x_dev = slot.pinned_in.to(self.device, non_blocking=True)
            h2d_end.record()
        self.compute_stream.wait_event(h2d_end)
        with torch.cuda.stream(self.compute_stream):
            run_start.record()
            x_dev.record_stream(self.compute_stream)  # allocated on the upload stream, used here
            y = self.forward(x_dev)
            run_end.record()
        slot.pinned_out = self._pinned(slot.pinned_out, y.shape, y.dtype)
        self.download_stream.wait_event(run_end)
        with torch.cuda.stream(self.download_stream):
            d2h_start.record()
            y.record_stream(self.download_stream)
            slot.pinned_out.copy_(y, non_blocking=True)
            d2h_end.record()
        slot.events = [h2d_start, h2d_end, run_start, run_end, d2h_start, d2h_end]
        self.times.h2d_bytes += x.numel() * x.element_size()
        self.times.d2h_bytes += y.numel() * y.element_size()
        self.in_flight.append(index)

    def collect(self) -> torch.Tensor:
        """Wait for the oldest batch and return its result as a CPU tensor of its own."""
        index = self.in_flight.popleft()
        slot = self.slots[index]
        h2d_start, h2d_end, run_start, run_end, d2h_start, d2h_end = slot.events
        d2h_end.synchronize()  # also means the slot's upload is done: the download waited for it via compute
        assert slot.pinned_out is not None
        out = slot.pinned_out.clone()  # the pinned buffer is reused by a later batch
        self.times.h2d_ms += h2d_start.elapsed_time(h2d_end)
        self.times.compute_ms += run_start.elapsed_time(run_end)
        self.times.d2h_ms += d2h_start.elapsed_time(d2h_end)
        self.times.batches += 1
        self.free.append(index)
        return out


def auto_batch(probe: Callable[[int], None], device: torch.device, cap: int = 32, headroom: float = 0.6) -> int:
    """The largest batch (<= cap) whose peak memory fits `headroom` of the free GPU memory.

    `probe(n)` runs one batch of n frames; its peak allocation at batch 1 and 2 gives the per-frame cost.
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
    return max(1, min(cap, int(free * headroom // per_frame)))
