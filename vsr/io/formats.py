"""The one table of output containers: which muxer an extension means, its default video codec, and which
outputs may use it (the file pipeline's `-o`, live recordings).

Both outputs pick the muxer here. Live recordings also take MPEG-TS and FLV (the containers of its output
streams) but not WebM, which cannot hold their H.264; the file pipeline writes the five formats below that it
passes audio, subtitles and metadata through.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ContainerFormat:
    muxer: str  # FFmpeg's muxer name (also what messages call the container)
    video_codec: str  # the default video encoder
    file_output: bool = True  # the file pipeline writes it
    recording: bool = True  # live recordings write it


CONTAINERS: dict[str, ContainerFormat] = {
    ".mp4": ContainerFormat("mp4", "libx264"),
    ".m4v": ContainerFormat("mp4", "libx264"),
    ".mov": ContainerFormat("mov", "libx264"),
    ".mkv": ContainerFormat("matroska", "libx264"),
    ".webm": ContainerFormat("webm", "libvpx-vp9", recording=False),
    ".ts": ContainerFormat("mpegts", "libx264", file_output=False),
    ".flv": ContainerFormat("flv", "libx264", file_output=False),
}

# The file pipeline's outputs: extension -> (muxer, default video codec).
FORMATS: dict[str, tuple[str, str]] = {ext: (f.muxer, f.video_codec) for ext, f in CONTAINERS.items()
                                       if f.file_output}
# Live recordings: extension -> muxer.
RECORDING_FORMATS: dict[str, str] = {ext: f.muxer for ext, f in CONTAINERS.items() if f.recording}

# Live output streams: URL scheme -> muxer.
STREAM_FORMATS: dict[str, str] = {"udp": "mpegts", "rtp": "rtp_mpegts", "srt": "mpegts", "tcp": "mpegts",
                                  "rtmp": "flv", "rtmps": "flv", "rtsp": "rtsp"}
