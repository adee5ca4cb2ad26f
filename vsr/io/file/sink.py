"""Encode upscaled RGB frames and mux them with the source's other streams into a new file.

The video keeps the source's timestamps (the encoder runs in the input stream's time base), colour
description, static HDR metadata (`vsr.io.hdr`, where the encoder can write it), bit depth, sample aspect
ratio, rotation (display matrix) and metadata. Audio, subtitle and other streams are copied packet for packet
where the output container accepts their codec; audio that does not fit is re-encoded, anything else is
dropped, each with a notice saying why.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av
import numpy as np

from vsr.errors import InputError, MediaError
from vsr.io.atomic import AtomicOutput
from vsr.io.colour import ColourDescription, from_rgb
from vsr.io.encode import NVENC_HINT, EncodeSettings, codec_options
from vsr.io.file.pipe import PipeOutput
from vsr.io.file.probe import SourceInfo
from vsr.io.file.streams import StreamPlan, audio_codec_for, clean_metadata, copy_tags, native_layout, plan_stream
from vsr.io.formats import FORMATS
from vsr.io.hdr import hdr_plan, merge_options
from vsr.io.picture import Picture, RgbPicture, YuvFormat
from vsr.io.planes import frame_from_planes, output_pix_fmt, yuv_format
from vsr.io.subtitles import TARGET_BY_FORMAT, cue_payload, cue_text

Notify = Callable[[str], None]


def check_output_path(out: Path, src: Path, overwrite: bool) -> None:
    """The checks that must pass before anything is written."""
    if out.suffix.lower() not in FORMATS:
        raise InputError(f"{out}: unknown output extension {out.suffix or '(none)'!r}",
                         hint=f"use one of {', '.join(sorted(FORMATS))}")
    if out.exists() and src.exists() and os.path.samefile(out, src) or out.resolve() == src.resolve():
        raise InputError(f"{out}: is the input file", hint="choose another output name")
    if out.exists() and not overwrite:
        raise InputError(f"{out}: exists", hint="pass {overwrite} to replace it")
    if out.exists() and out.is_dir():
        raise InputError(f"{out}: is a directory")
    if not out.parent.is_dir():
        raise InputError(f"{out.parent}: no such directory")


@dataclass
class SinkCounters:
    frames: int = 0
    packets: int = 0
    audio_frames: int = 0


class VideoSink:
    def __init__(self, path: Path, info: SourceInfo, width: int, height: int, settings: EncodeSettings,
                 notify: Notify, video_only: bool = False,
                 video_from: av.video.stream.VideoStream | None = None, *,
                 template: av.container.InputContainer | None = None, pipe: PipeOutput | None = None) -> None:
        """`video_from`: copy this already encoded stream's packets (`write_video_packet`) instead of encoding.
        `template`: the input's opened container (an input read once, a pipe) instead of `info.path` opened again;
        `pipe`: write the stream to this pipe, in its format, instead of to the file `path`."""
        self.path, self.info, self.notify = path, info, notify
        self._video_from = video_from
        self.settings = settings
        self.counters = SinkCounters()
        self._closed = False
        self.plans: list[StreamPlan] = []
        self._out_streams: dict[int, av.stream.Stream] = {}
        self._audio_encoders: dict[int, av.audio.stream.AudioStream] = {}
        self._converted: dict[int, tuple[av.stream.Stream, str, str]] = {}  # text subtitles: (stream, from, to)
        self.width, self.height = width, height
        if pipe is None:
            self.format_label, default_codec = FORMATS[path.suffix.lower()]
        else:
            self.format_label, default_codec = pipe.muxer, pipe.video_codec
        self.codec = settings.codec or default_codec
        self._container = av.open(str(path), "w") if pipe is None else pipe.open()
        try:
            with (av.open(str(info.path), "r") if template is None else contextlib.nullcontext(template)) as template:
                self._add_video(template.streams[info.video_index])
                if not video_only:  # e.g. a segment of a longer job: the other streams are muxed in at the join
                    self._add_others(template)
                self._container.metadata.update(clean_metadata(info.metadata))
                # Write the header now: codec and muxer errors surface before any frame is decoded.
                self._container.start_encoding()
        except av.FFmpegError as exc:
            self._container.close()
            hint = NVENC_HINT if self.codec.endswith("_nvenc") else ""
            raise MediaError(f"cannot write {self.format_label} with {self.codec}{hint}: {exc}") from None
        except BaseException:
            self._container.close()
            raise

    # ---- setup -------------------------------------------------------------------------------------------
    def _pick_pix_fmt(self, codec: av.Codec) -> str:
        supported = [f.name for f in (codec.video_formats or [])]
        wanted = self.settings.pix_fmt or output_pix_fmt(self.info.pix_fmt, self.info.deep)
        if supported and wanted not in supported:
            order = ("yuv420p10le", "p010le", "yuv420p", "nv12") if self.info.deep else ("yuv420p", "nv12")
            fallback = next((f for f in order
                             if f in supported), supported[0])
            self.notify(f"{self.codec} cannot encode {wanted}; using {fallback}")
            wanted = fallback
        return wanted

    def _add_video(self, template: av.video.stream.VideoStream) -> None:
        if self._video_from is not None:
            self._add_copied_video(template, self._video_from)
            return
        name, info = self.codec, self.info
        self.pix_fmt = self._pick_pix_fmt(self._video_encoder(name))
        if self.info.deep and "10" not in self.pix_fmt and "p010" not in self.pix_fmt:
            self.notify(f"the input is {info.bit_depth}-bit but {self.pix_fmt} is 8-bit")
        self._pick_encoded_size()
        rate = info.rate if info.rate and info.rate > 0 else Fraction(25)
        stream = self._container.add_stream(name, rate=rate)
        stream.width, stream.height, stream.pix_fmt = self.enc_width, self.enc_height, self.pix_fmt
        # The source's time base, so every input timestamp is representable: pts pass through unchanged. (YUV4MPEG
        # has no timestamps: its header's frame rate is the stream's time base.)
        stream.time_base = info.time_base if self.format_label != "yuv4mpegpipe" else 1 / rate
        cc = stream.codec_context
        cc.time_base = info.time_base
        cc.framerate = rate
        colour: ColourDescription = info.colour
        cc.color_range, cc.colorspace = colour.range, colour.matrix
        cc.color_primaries, cc.color_trc = colour.primaries, colour.trc
        if info.sample_aspect_ratio:
            cc.sample_aspect_ratio = info.sample_aspect_ratio
        hdr = hdr_plan(self.codec, info.hdr)
        cc.options = merge_options(codec_options(self.codec, self.settings), hdr.options)
        if hdr.notice:
            self.notify(hdr.notice)
        if info.display_matrix:
            stream.set_display_matrix(info.display_matrix)
        copy_tags(stream, info.video_metadata, template.disposition)
        self.video_stream = stream

    def _video_encoder(self, name: str) -> av.Codec:
        """The encoder `name` (the codec setting), checked: it exists, encodes video, and the container holds it."""
        if name not in av.codecs_available:
            raise MediaError("not available in this FFmpeg build", setting="codec", value=name)
        try:
            codec = av.Codec(name, "w")
        except Exception:
            raise MediaError("not a video encoder", setting="codec", value=name) from None
        if codec.type != "video":
            raise MediaError("not a video encoder", setting="codec", value=name)
        if name not in self._container.supported_codecs:
            raise MediaError(f"{self.format_label} cannot hold {name} video",
                             hint="choose another {codec} or output extension")
        return codec

    def _pick_encoded_size(self) -> None:
        """4:2:0 needs even sizes (4:2:2 an even width): pad by repeating the edge, which changes no pixel
        inside."""
        subs = 2 if ("420" in self.pix_fmt or self.pix_fmt in ("nv12", "p010le")) else 1
        subw = 2 if subs == 2 or "422" in self.pix_fmt else 1
        self.enc_width = self.width + (self.width % subw)
        self.enc_height = self.height + (self.height % subs)
        if (self.enc_width, self.enc_height) != (self.width, self.height):
            self.notify(f"output {self.width}x{self.height} is odd; {self.pix_fmt} needs even sizes, so it is "
                        f"padded to {self.enc_width}x{self.enc_height} by repeating the last column/row")

    def _add_copied_video(self, template: av.video.stream.VideoStream, encoded: av.video.stream.VideoStream) -> None:
        """The video of an earlier encode (e.g. joined segments): its codec parameters, the source's timing/tags."""
        cc = encoded.codec_context
        self.codec, self.pix_fmt = cc.name, cc.pix_fmt or "?"
        self.enc_width, self.enc_height = cc.width, cc.height
        try:
            stream = self._container.add_stream_from_template(encoded)
        except (av.FFmpegError, ValueError, TypeError) as exc:
            raise MediaError(f"{self.format_label} cannot hold {self.codec} video ({exc})") from None
        stream.time_base = self.info.time_base  # as an encoded stream gets: the muxer picks the same timescale
        if self.info.display_matrix:
            stream.set_display_matrix(self.info.display_matrix)
        copy_tags(stream, self.info.video_metadata, template.disposition)
        self.video_stream = stream

    def _add_others(self, template: av.container.InputContainer) -> None:
        supported = self._container.supported_codecs
        for s in template.streams:
            if s.index == self.info.video_index:
                continue
            plan = plan_stream(s, self.format_label, supported, self.info.video_index)
            if plan.action == "convert":
                target = TARGET_BY_FORMAT[self.format_label]
                out = self._container.add_mux_stream(target)
                out.time_base = s.time_base
                copy_tags(out, dict(s.metadata), s.disposition)
                self._converted[s.index] = (out, plan.codec, target)
            if plan.action == "copy":
                self._add_copy(s, plan)
            if plan.action == "encode":
                self._add_audio_encoder(s)
            if plan.action != "copy":
                dropped = "dropped: " if plan.action == "drop" else ""
                self.notify(f"stream {s.index} ({s.type}, {plan.codec}): {dropped}{plan.reason}")
            self.plans.append(plan)

    def _add_copy(self, s: av.stream.Stream, plan: StreamPlan) -> None:
        """A stream copied packet for packet; where the muxer refuses it, audio is re-encoded, the rest dropped."""
        fmt = self.format_label
        try:
            out = self._container.add_stream_from_template(s)  # the muxer picks its own codec tag
        except (av.FFmpegError, ValueError, TypeError) as exc:
            if s.type == "audio":
                plan.action, plan.reason = "encode", f"cannot copy {plan.codec} into {fmt} ({exc}); re-encoded"
            else:
                plan.action, plan.reason = "drop", f"cannot copy {plan.codec} into {fmt} ({exc})"
        else:
            copy_tags(out, dict(s.metadata), s.disposition)
            self._out_streams[s.index] = out

    def _add_audio_encoder(self, s: av.audio.stream.AudioStream) -> None:
        codec = audio_codec_for(self.format_label)
        cc = s.codec_context
        rate = 48000 if codec == "libopus" else cc.sample_rate
        layout = native_layout(cc.layout)
        out = self._container.add_stream(codec, rate=rate, layout=layout)
        # The encoder's own sample format (AAC: fltp); PyAV's encoder resamples the decoded frames into it.
        formats = [f.name for f in (out.codec_context.codec.audio_formats or [])]
        if formats and out.codec_context.format.name not in formats:
            out.codec_context.format = formats[0]
        out.time_base = Fraction(1, rate)
        # A bit rate per channel, not the source's: a PCM source's rate (1.5 Mb/s) is beyond what Opus or AAC
        # accept, and both reach transparency well below these figures.
        channels = cc.layout.nb_channels if cc.layout else 2
        out.codec_context.bit_rate = (64000 if codec == "libopus" else 96000) * max(1, channels)
        copy_tags(out, dict(s.metadata), s.disposition)
        self._audio_encoders[s.index] = out

    @property
    def copy_streams(self) -> set[int]:
        """The input streams whose packets the sink wants as they are (copied, or text subtitles converted)."""
        return set(self._out_streams) | set(self._converted)

    @property
    def encode_streams(self) -> set[int]:
        return set(self._audio_encoders)

    # ---- writing -----------------------------------------------------------------------------------------
    def write_frame(self, rgb: np.ndarray, pts: int) -> None:
        h, w = rgb.shape[:2]
        if (w, h) != (self.width, self.height):
            raise MediaError(f"internal: frame {w}x{h} does not match the output size {self.width}x{self.height}")
        if (self.enc_width, self.enc_height) != (w, h):
            rgb = np.pad(rgb, ((0, self.enc_height - h), (0, self.enc_width - w), (0, 0)), mode="edge")
        self._encode(from_rgb(rgb, self.info.colour, self.pix_fmt), pts)

    def _encode(self, frame: av.VideoFrame, pts: int) -> None:
        frame.pts = pts
        frame.time_base = self.info.time_base
        for packet in self.video_stream.encode(frame):
            self._container.mux(packet)
        self.counters.frames += 1

    @property
    def yuv_format(self) -> YuvFormat | None:
        """The format YUV pictures must be in for `write` to take them as they are (the output's pix_fmt, size
        and colour), or None where it takes RGB only (a padded size, a format without a plane layout)."""
        if (self.enc_width, self.enc_height) != (self.width, self.height):
            return None
        return yuv_format(self.pix_fmt, self.width, self.height, self.info.colour, self.info.chroma_location)

    def write(self, picture: Picture, pts: int) -> None:
        """One upscaled picture: RGB (converted here, with swscale), or YUV planes already converted to the
        output's format and colour (on the model's device, say)."""
        if isinstance(picture, RgbPicture):
            self.write_frame(picture.rgb, pts)
            return
        if picture.format != self.yuv_format:
            raise MediaError(f"internal: YUV picture in {picture.format}, the output takes {self.yuv_format}")
        self._encode(frame_from_planes(picture.planes, self.pix_fmt, self.info.colour), pts)

    def write_video_packet(self, packet: av.Packet) -> None:
        """A packet of the `video_from` stream (its own time base; the muxer rescales)."""
        packet.stream = self.video_stream
        self._container.mux(packet)
        self.counters.frames += 1

    def write_packet(self, packet: av.Packet) -> None:
        if packet.stream_index in self._converted:
            self._write_cue(packet)
            return
        out = self._out_streams.get(packet.stream_index)
        if out is None:
            return
        packet.stream = out
        self._container.mux(packet)
        self.counters.packets += 1

    def _write_cue(self, packet: av.Packet) -> None:
        out, src_codec, dst_codec = self._converted[packet.stream_index]
        text = cue_text(src_codec, bytes(packet))
        if text is None:
            return
        cue = av.Packet(cue_payload(dst_codec, text))
        cue.pts, cue.dts, cue.duration = packet.pts, packet.dts, packet.duration
        cue.time_base = packet.time_base
        cue.stream = out
        self._container.mux(cue)
        self.counters.packets += 1

    def write_audio(self, stream_index: int, frame: av.AudioFrame) -> None:
        out = self._audio_encoders[stream_index]
        for packet in out.encode(frame):
            self._container.mux(packet)
        self.counters.audio_frames += 1

    def close(self, flush: bool = True) -> None:
        """Flush the encoders and write the trailer (`flush=False` on failure: just release the file)."""
        if self._closed:
            return
        self._closed = True
        try:
            if flush:
                if self._video_from is None:  # copied video has no encoder to drain
                    for packet in self.video_stream.encode(None):
                        self._container.mux(packet)
                for out in self._audio_encoders.values():
                    for packet in out.encode(None):
                        self._container.mux(packet)
        finally:
            self._container.close()


__all__ = ["FORMATS", "AtomicOutput", "EncodeSettings", "SinkCounters", "StreamPlan", "VideoSink", "check_output_path"]
