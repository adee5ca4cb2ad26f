"""The CUDA scheduler: pinned slots, upload/compute/download streams, events, and no host synchronisation in submit.

`CudaScheduler.submit(batch)` packs a batch (RGB frames, YUV pictures, float images: vsr/engine/frames.py) into a
pinned staging buffer, uploads it on the upload stream, runs the step on the compute stream once the upload's
event has fired (conversion to float, the model, the numeric guard's flags and the quantisation all happen
there: vsr/engine/forward.py; or onnxruntime bound to the same stream: vsr/engine/onnx_engine.py), and queues the
download of the result and the flags into pinned memory on the download stream. Uploads and downloads have a
stream each: on one shared stream the upload of batch k+1 would queue behind the download of batch k, which waits
for k's compute. Nothing in `submit` waits for the GPU, so the caller prepares batch k+1 while k computes.

`collect()` waits only for the oldest batch's download, reads its guard flags (already on the host by then),
lets the step repair the flagged frames from the slot's input, and hands the result back unpacked. Each result
has its own pinned buffer from torch's caching host allocator, which recycles a buffer once the caller has
dropped the frames and the copies that used it have finished: no copy on collect, and host memory stays
bounded by the frames alive downstream (the pipeline's queues).

Integrated GPUs (Jetson) share memory with the CPU: the pinned staging copy of the input would be a pure extra
memcpy, so the batch's own host tensor is copied to the device directly (`staging=False`).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

import torch

from vsr.engine.frames import EngineBatch
from vsr.engine.schedulers import Step
from vsr.engine.tiling import is_out_of_memory

EventPair = tuple[torch.cuda.Event, torch.cuda.Event]


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
class _InFlight:
    """One batch on the GPU: its slot (the staged input), its batch, where its result lands, its events."""

    slot: int
    batch: EngineBatch
    host_in: torch.Tensor
    host_out: torch.Tensor
    host_flags: torch.Tensor | None
    events: list[torch.cuda.Event] = field(default_factory=list)


def _event() -> torch.cuda.Event:
    return torch.cuda.Event(enable_timing=True)


class CudaScheduler:
    """Runs `step` on each batch with overlapped copies; `depth` batches in flight (`submit` raises when all slots
    are busy: collect first), which bounds the staging memory to `depth` input buffers."""

    def __init__(self, step: Step, device: torch.device, depth: int = 2, staging: bool = True,
                 notice: Callable[[str], None] | None = None) -> None:
        self.step, self.device, self.depth, self.staging = step, device, depth, staging
        self.notice = notice or (lambda msg: None)
        self.upload_stream = torch.cuda.Stream(device)
        self.download_stream = torch.cuda.Stream(device)
        self.compute_stream = torch.cuda.Stream(device)
        self._staging: list[torch.Tensor | None] = [None] * depth
        self._free = deque(range(depth))
        self._queue: deque[_InFlight] = deque()
        self.times = CopyTimes()
        self._pageable = False  # set after pinned memory ran out: slower (synchronous) copies, never wrong

    def __len__(self) -> int:
        return len(self._queue)

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

    def submit(self, batch: EngineBatch) -> None:
        """Queue one batch; returns once its input has been staged, not once it has run."""
        if not self._free:
            raise RuntimeError("CudaScheduler: all slots busy; collect() before submitting more")
        index = self._free.popleft()
        try:
            self._queue.append(self._queue_batch(index, batch))
        except BaseException:
            # The slot goes back (an out-of-memory error must not lose it), once nothing still reads its buffer.
            self.upload_stream.synchronize()
            self._free.appendleft(index)
            raise

    def _stage(self, index: int, batch: EngineBatch) -> torch.Tensor:
        """The batch's input on the host: packed into the slot's pinned buffer (this slot's last upload finished
        before it was collected), or the batch's own tensor without staging."""
        if not self.staging:
            return batch.host()
        buf = self._staging[index] = self._host(self._staging[index], batch.shape, batch.dtype)
        batch.fill(buf)  # the only host-side copy
        return buf

    def _queue_batch(self, index: int, batch: EngineBatch) -> _InFlight:
        host_in = self._stage(index, batch)
        pinned = host_in.is_pinned()
        # Each stream's start event fires when that stream reaches it, so start->end is the work itself.
        h2d_start, h2d_end, run_start, run_end, d2h_start, d2h_end = (_event() for _ in range(6))
        with torch.cuda.stream(self.upload_stream):
            h2d_start.record()
            x_dev = host_in.to(self.device, non_blocking=pinned)  # (from pageable memory: synchronous)
            h2d_end.record()
        self.compute_stream.wait_event(h2d_end)
        with torch.cuda.stream(self.compute_stream):
            run_start.record()
            x_dev.record_stream(self.compute_stream)  # allocated on the upload stream, used here
            y, flags = self.step.run(x_dev, batch)
            run_end.record()
        host_out = self._host(None, y.shape, y.dtype)
        host_flags = self._host(None, flags.shape, flags.dtype) if flags is not None else None
        self.download_stream.wait_event(run_end)
        with torch.cuda.stream(self.download_stream):
            d2h_start.record()
            y.record_stream(self.download_stream)
            host_out.copy_(y, non_blocking=True)
            if flags is not None and host_flags is not None:
                flags.record_stream(self.download_stream)
                host_flags.copy_(flags, non_blocking=True)
            d2h_end.record()
        self.times.h2d_bytes += host_in.numel() * host_in.element_size()
        self.times.d2h_bytes += y.numel() * y.element_size()
        return _InFlight(index, batch, host_in, host_out, host_flags,
                         [h2d_start, h2d_end, run_start, run_end, d2h_start, d2h_end])

    def oldest_ready(self) -> bool:
        """Whether `collect()` would return at once (the oldest batch's download has finished)."""
        return bool(self._queue) and self._queue[0].events[-1].query()

    def collect(self) -> object:
        """Wait for the oldest batch and return its result, unpacked by its batch (flagged frames repaired)."""
        done = self._queue.popleft()
        try:
            h2d_start, h2d_end, run_start, run_end, d2h_start, d2h_end = done.events
            d2h_end.synchronize()  # also means the slot's upload is done: the download waited for it via compute
            if done.host_flags is not None and bool(done.host_flags.any()):
                self.step.repair(done.host_in, done.host_out, done.host_flags, done.batch)
            self.times.add((h2d_start, h2d_end), (run_start, run_end), (d2h_start, d2h_end))
        finally:
            self._free.append(done.slot)
        return done.batch.result(done.host_out)

    def close(self) -> None:
        """Wait for the batches in flight and drop them with the staging buffers."""
        if self._queue:
            torch.cuda.synchronize(self.device)
        self._queue.clear()
        self._free = deque(range(self.depth))
        self._staging = [None] * self.depth


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

    `probe(n)` runs one batch of n realistic frames; its peak allocation at batch 1 and 2 (each measured on its
    second run) gives the per-frame cost.
    """
    peaks = []
    for n in (1, 2):
        # Once before measuring: cuDNN's benchmark tries every algorithm of a new shape with workspaces far larger
        # than the chosen one keeps, and those would count in the peak.
        probe(n)
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
