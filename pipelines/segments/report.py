"""What a segmented run reports: per worker and for the whole batch."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from vsr.fs import write_json_atomic


@dataclass
class WorkerStats:
    segments: int = 0
    frames: int = 0
    busy_s: float = 0.0

    def as_dict(self) -> dict[str, Any]:
        return {"segments": self.segments, "frames": self.frames, "busy_s": round(self.busy_s, 3),
                "fps": round(self.frames / self.busy_s, 3) if self.busy_s > 0 else 0.0}


@dataclass
class SegmentedReport:
    inputs: list[str]
    outputs: list[str]
    engine: str
    segments: int
    reused: int
    processed: int
    redone_corrupt: int
    retried: int
    frames: int  # frames in the outputs
    frames_processed: int  # frames upscaled in this run (not the reused ones)
    wall_s: float
    fps: float  # frames upscaled in this run / wall time of processing them (all workers together)
    join_s: float
    workers: dict[str, dict[str, Any]]
    model: str
    scale: int
    device: str
    precision: str
    work_dirs: list[str]
    work_kept: bool
    notices: list[str]

    def summary(self) -> str:
        outs = self.outputs[0] if len(self.outputs) == 1 else f"{len(self.outputs)} files"
        ins = self.inputs[0] if len(self.inputs) == 1 else f"{len(self.inputs)} inputs"
        lines = [
            f"{ins} -> {outs}",
            f"  segments: {self.segments} ({self.reused} reused, {self.processed} processed"
            + (f", {self.redone_corrupt} redone after a checksum mismatch" if self.redone_corrupt else "")
            + (f", {self.retried} retried after a worker failure" if self.retried else "") + f") on {self.engine}",
            f"  frames: {self.frames} out, {self.frames_processed} upscaled now   wall {self.wall_s:.2f} s   "
            f"{self.fps:.2f} fps total   join {self.join_s:.2f} s",
            f"  {self.model} x{self.scale} ({self.device}, {self.precision})",
        ]
        for name, st in sorted(self.workers.items()):
            lines.append(f"  worker {name}: {st['segments']} segments, {st['frames']} frames, "
                         f"{st['fps']:.2f} fps")
        if self.work_kept:
            lines.append(f"  work kept in {', '.join(self.work_dirs)}")
        return "\n".join(lines)

    def write_json(self, path: str | Path) -> None:
        write_json_atomic(path, asdict(self))
