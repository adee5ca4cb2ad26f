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


@dataclass(frozen=True)
class PipeFormat:
    """A container written to a pipe (`-o -`): one that needs no seeking back to finish it."""

    muxer: str
    video_codec: str
    options: tuple[tuple[str, str], ...] = ()  # the muxer's options


# The file pipeline's stream outputs (stdout): name -> format. Matroska and NUT carry audio and subtitles beside
# the video; YUV4MPEG carries the decoded picture alone, at a constant rate, for tools that take raw video
# (players, VapourSynth, encoders). Its 10-bit and 4:4:4 layouts are extensions that FFmpeg writes only when told
# not to be strict; every reader of YUV4MPEG that takes 10-bit (FFmpeg, mpv, VapourSynth) reads them.
PIPE_FORMATS: dict[str, PipeFormat] = {
    "mkv": PipeFormat("matroska", "libx264"),
    "nut": PipeFormat("nut", "libx264"),
    "y4m": PipeFormat("yuv4mpegpipe", "wrapped_avframe", (("strict", "-1"),)),
}
