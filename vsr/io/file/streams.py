"""What becomes of a source's other streams in an output file (copied, re-encoded, converted or dropped), and
the tags and layouts carried over to the streams that are written."""

from __future__ import annotations

from dataclasses import dataclass

import av

from vsr.io.subtitles import TARGET_BY_FORMAT, TEXT_CODECS

# Metadata the muxer writes itself or that describes the old encode (stale after re-encoding).
_STALE_KEYS = {"encoder", "major_brand", "minor_version", "compatible_brands", "vendor_id", "duration",
               "bps", "number_of_frames", "number_of_bytes", "_statistics_writing_app",
               "_statistics_writing_date_utc", "_statistics_tags"}
# FFmpeg's default layout for a channel count, for sources whose layout is only "N channels" (unspecified
# order, common for PCM): AAC and Opus encoders refuse an unordered layout.
_DEFAULT_LAYOUTS = {1: "mono", 2: "stereo", 3: "2.1", 4: "quad", 5: "5.0", 6: "5.1", 7: "6.1", 8: "7.1"}


@dataclass
class StreamPlan:
    index: int
    type: str
    codec: str
    action: str  # copy, encode (audio re-encoded), convert (text subtitles), drop
    reason: str = ""


def clean_metadata(meta: dict[str, str]) -> dict[str, str]:
    out = {k: v for k, v in meta.items() if k.lower() not in _STALE_KEYS and not k.startswith("_STATISTICS")}
    # The MP4 demuxer reports a track title as "name" but the muxers write "title".
    if "name" in out and "title" not in out:
        out["title"] = out.pop("name")
    return out


def native_layout(layout: av.AudioLayout | None) -> str:
    if layout is None:
        return "stereo"
    if layout.name.endswith("channels"):
        return _DEFAULT_LAYOUTS.get(layout.nb_channels, "stereo")
    return layout.name


def copy_tags(out: av.stream.Stream, metadata: dict[str, str], disposition) -> None:
    """A written stream gets its source's metadata (less the stale keys) and disposition."""
    out.metadata.update(clean_metadata(metadata))
    try:
        out.disposition = disposition
    except (AttributeError, TypeError, ValueError):
        pass


def audio_codec_for(fmt: str) -> str:
    """The encoder for audio that must be re-encoded into a container (`fmt`: the muxer's name)."""
    return "libopus" if fmt == "webm" else "aac"


def plan_stream(s: av.stream.Stream, fmt: str, supported: set[str], video_index: int) -> StreamPlan:
    """What to do with a source stream other than the upscaled video in a `fmt` container that holds the codecs
    `supported`. (A copy that the muxer then refuses becomes a re-encode or a drop in the sink.)"""
    codec = s.codec_context.codec.canonical_name if s.codec_context else "none"
    plan = StreamPlan(s.index, s.type, codec, "copy")
    # MP4/MOV hold Vorbis only as an experimental extension that players ignore, and FFmpeg's MP4 muxer
    # lists PCM but refuses to write it (only MOV stores PCM): re-encode both instead.
    fits = codec in supported and not (codec == "vorbis" and fmt in ("mp4", "mov")) \
        and not (codec.startswith("pcm_") and fmt == "mp4")
    if s.type == "video":
        plan.action, plan.reason = "drop", f"only video stream {video_index} is upscaled"
    elif s.type == "attachment":
        if fmt != "matroska":
            plan.action, plan.reason = "drop", f"{fmt} cannot hold attachments"
    elif not fits and s.type == "audio" and audio_codec_for(fmt) in supported:
        plan.action = "encode"
        plan.reason = f"{fmt} cannot hold {codec} audio; re-encoded as {audio_codec_for(fmt)}"
    elif not fits and s.type == "subtitle" and codec in TEXT_CODECS and TARGET_BY_FORMAT.get(fmt) in supported:
        plan.action = "convert"
        plan.reason = (f"{fmt} cannot hold {codec}; converted to {TARGET_BY_FORMAT[fmt]} (text and timing kept, "
                       "styling not)")
    elif not fits:
        plan.action, plan.reason = "drop", f"{fmt} cannot hold {codec} {s.type} streams"
    return plan
