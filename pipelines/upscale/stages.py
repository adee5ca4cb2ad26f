"""The three stages of the file pipeline: decode, upscale (batches through the engine), encode + mux."""

from __future__ import annotations

import queue
import threading
from collections import deque

from pipelines.common.stages import EOS, Stage
from vsr.engine.frames import picture_batch
from vsr.engine.interface import FrameEngine
from vsr.io import AudioFrames, Frame, VideoSink, VideoSource
from vsr.io.picture import YuvFormat


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

    def __init__(self, engine: FrameEngine, batch: int, inbox: queue.Queue, outbox: queue.Queue,
                 stop_event: threading.Event, yuv_target: YuvFormat | None = None) -> None:
        super().__init__(inbox, outbox, stop_event)
        self.engine, self.batch = engine, max(1, batch)
        self.yuv_target = yuv_target  # the format YUV pictures come back in (colour converted beside the model)
        self._in_flight: deque[list[Frame]] = deque()

    def _upscale(self, frames: list[Frame]) -> None:
        # Pictures go to the engine as they are: conversion and quantisation run where the model runs. As many
        # batches stay in flight as the engine takes: on CUDA one is copied while the previous computes, on the
        # CPU its workers compute them side by side.
        while not self.engine.can_submit:
            self._collect()
        self.engine.submit(picture_batch([f.picture for f in frames], self.yuv_target))
        self._in_flight.append(frames)

    def _collect(self) -> None:
        frames = self._in_flight.popleft()
        pictures = self.engine.collect()
        assert isinstance(pictures, list)
        for f, picture in zip(frames, pictures, strict=True):
            self.stats.items += 1
            self.put(Frame(picture, f.pts, f.time_base, f.index, f.key_frame))

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
                self.sink.write(item.picture, item.pts)
                self.stats.items += 1
            elif isinstance(item, AudioFrames):
                self.sink.write_audio(item.stream_index, item.frame)
            else:
                self.sink.write_packet(item)
        self.sink.close(flush=True)
        self.finished = True
