"""What a file upscale reports: the summary a user reads and the JSON `--report` writes."""

from __future__ import annotations

import resource
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from pipelines.common.notices import Notices
from pipelines.common.stages import StagePipeline
from vsr.fs import write_json_atomic
from vsr.io import SourceInfo, VideoSink, VideoSource


@dataclass
class FileReport:
    input: str
    output: str
    frames_in: int
    frames: int
    wall_s: float
    fps: float
    input_size: list[int]
    output_size: list[int]
    model: str
    scale: int
    device: str
    precision: str
    batch: int
    codec: str
    pix_fmt: str
    colour: str
    stages: dict[str, dict[str, Any]]
    streams: list[dict[str, Any]]
    packets_copied: int
    corrupt_packets: int
    truncated: bool
    notices: list[str]
    peak_rss_mib: float
    engine: str = ""  # the engine's own description (device, precision, memory format, tiling)

    def summary(self) -> str:
        lines = [
            f"{self.input} -> {self.output}",
            f"  frames in/out: {self.frames_in}/{self.frames}   wall {self.wall_s:.2f} s   {self.fps:.2f} fps overall",
            f"  {self.input_size[0]}x{self.input_size[1]} -> {self.output_size[0]}x{self.output_size[1]} "
            f"({self.model} x{self.scale}, {self.device}, {self.precision}, batch {self.batch}); "
            f"{self.codec} {self.pix_fmt}; {self.colour}",
        ]
        for name, st in self.stages.items():
            lines.append(f"  {name:<8} busy {st['busy_s']:7.2f} s   waiting {st['wait_s']:7.2f} s "
                         f"(input {st['wait_in_s']:.2f}, output {st['wait_out_s']:.2f})")
        if self.packets_copied:
            lines.append(f"  other streams: {self.packets_copied} packets copied")
        if self.corrupt_packets or self.truncated:
            lines.append(f"  corrupt packets skipped: {self.corrupt_packets}" + ("; input truncated" if self.truncated
                                                                               else ""))
        return "\n".join(lines)

    def write_json(self, path: str | Path) -> None:
        write_json_atomic(path, asdict(self))


def peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0  # Linux reports KiB


def file_report(src: Path, out: Path, info: SourceInfo, scale: int, batch: int, wall: float,
                labels: dict[str, str], sink: VideoSink, source: VideoSource, owner: StagePipeline,
                notices: Notices) -> FileReport:
    frames = sink.counters.frames
    return FileReport(
        input=str(src), output=str(out), frames_in=source.counters.frames, frames=frames,
        wall_s=round(wall, 3), fps=round(frames / wall, 3) if wall > 0 else 0.0,
        input_size=[info.width, info.height], output_size=[sink.width, sink.height],
        model=labels.get("model", "?"), scale=scale, device=labels.get("device", "?"),
        precision=labels.get("precision", "?"), batch=batch, codec=sink.codec, pix_fmt=sink.pix_fmt,
        colour=info.colour.describe(),
        stages={s.name: s.stats.as_dict() for s in owner.stages},
        streams=[asdict(p) for p in sink.plans], packets_copied=sink.counters.packets,
        corrupt_packets=source.counters.corrupt_packets, truncated=source.counters.truncated,
        notices=list(notices.items), peak_rss_mib=round(peak_rss_mib(), 1), engine=labels.get("engine", ""),
    )
