"""The three stages of the file pipeline: decode, upscale (batches through the engine), encode + mux."""

from __future__ import annotations

import queue
import threading
from collections import deque
from collections.abc import Callable

import numpy as np
import torch

from pipelines.common.device_colour import PlaneFormats
from pipelines.common.stages import EOS, Stage
from vsr.engine.colour import unpack_frames
from vsr.engine.frames import YuvBatch
from vsr.io import AudioFrames, Frame, VideoSink, VideoSource


class DecodeStage(Stage):
    name = "decode"

    def __init__(self, source: VideoSource, outbox: queue.Queue, stop_event: threading.Event) -> None:
        super().__init__(None, outbox, stop_event)
        self.source = source

    def process(self) -> None:
        items = self.source.items(lambda: self.stopping)
        try:
            for item in items:
                if isinstance(item, Frame):
                    self.stats.items += 1
                self.put(item)
        finally:
            items.close()  # closes the input file even when stopped early
        self.put(EOS)


class UpscaleStage(Stage):
    """Gathers up to `batch` frames of equal size, runs the engine, passes other items straight on."""

    name = "upscale"

    def __init__(self, engine: Callable[[np.ndarray], np.ndarray], batch: int,
                 inbox: queue.Queue, outbox: queue.Queue, stop_event: threading.Event,
                 yuv: PlaneFormats | None = None) -> None:
        super().__init__(inbox, outbox, stop_event)
        self.engine, self.batch = engine, max(1, batch)
        self.yuv = yuv  # frames that come as YUV planes: their format in and out of the engine
        # vsr.engine.Engine can keep batches in flight (submit/collect); a plain callable runs one at a time.
        self._pipelined = all(hasattr(engine, n) for n in ("submit", "collect", "can_submit"))
        self._in_flight: deque[list[Frame]] = deque()

    def _upscale(self, frames: list[Frame]) -> None:
        # Integer frames go to the engine as they are: conversion and quantisation run where the model runs.
        x: np.ndarray | YuvBatch
        if frames[0].planes is not None:
            assert self.yuv is not None
            x = YuvBatch([f.planes for f in frames], self.yuv.source, self.yuv.target)
        else:
            x = np.stack([f.rgb for f in frames])
        if self._pipelined:
            # Keep as many batches in flight as the engine takes: on CUDA one is copied while the previous computes,
            # on the CPU its workers compute them side by side.
            while not self.engine.can_submit:
                self._collect()
            self.engine.submit(x)
            self._in_flight.append(frames)
        else:
            self._emit(frames, self.engine(x))

    def _collect(self) -> None:
        frames = self._in_flight.popleft()
        self._emit(frames, self.engine.collect())

    def _emit(self, frames: list[Frame], y: np.ndarray | torch.Tensor) -> None:
        if frames[0].planes is not None:
            assert self.yuv is not None
            outs = [dict(rgb=None, planes=list(p), pix_fmt=self.yuv.pix_fmt) for p in unpack_frames(y, self.yuv.target)]
        else:
            outs = [dict(rgb=rgb) for rgb in y]
        for f, out in zip(frames, outs, strict=True):
            self.stats.items += 1
            self.put(Frame(pts=f.pts, time_base=f.time_base, index=f.index, key_frame=f.key_frame, **out))

    def process(self) -> None:
        pending: list[Frame] = []
        while True:
            item = self.get()
            if item is EOS:
                break
            if isinstance(item, Frame):
                if pending and pending[0].batch_key != item.batch_key:
                    self._upscale(pending)
                    pending = []
                pending.append(item)
                if len(pending) >= self.batch:
                    self._upscale(pending)
                    pending = []
            else:
                self.put(item)
        if pending:
            self._upscale(pending)
        while self._in_flight:
            self._collect()
        self.put(EOS)


class EncodeStage(Stage):
    name = "encode"

    def __init__(self, sink: VideoSink, inbox: queue.Queue, stop_event: threading.Event) -> None:
        super().__init__(inbox, None, stop_event)
        self.sink = sink
        self.finished = False

    def process(self) -> None:
        while True:
            item = self.get()
            if item is EOS:
                break
            if isinstance(item, Frame):
                if item.planes is not None:
                    self.sink.write_planes(item.planes, item.pts)
                else:
                    self.sink.write_frame(item.rgb, item.pts)
                self.stats.items += 1
            elif isinstance(item, AudioFrames):
                self.sink.write_audio(item.stream_index, item.frame)
            else:
                self.sink.write_packet(item)
        self.sink.close(flush=True)
        self.finished = True
