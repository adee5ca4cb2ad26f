"""The capture stage: reads a live source on its own thread and hands frames to a `LatestSlot`, never waiting for
the consumer; audio goes to a plain queue as `AudioItem`s (the packet for outputs that copy it, and its decoded
frames for outputs that must re-encode it)."""

from __future__ import annotations

import queue
import threading
import time
from dataclasses import dataclass, field

import av

from vsr.io.live.capture import AudioItem, CapturedFrame, LiveSource, av_error_message
from vsr.io.live.slot import LatestSlot

MAX_PTS_STEP_S = 5.0  # a larger step between two frames' timestamps is a discontinuity, not a pause


@dataclass
class CaptureStats:
    captured: int = 0
    audio_packets: int = 0
    first_pts_s: float | None = None  # source timestamp of the first captured frame (audio is aligned to it)
    start_t: float | None = None  # capture time of the first frame
    capture_times: list[float] = field(default_factory=list)  # for the status line's captured FPS


class CaptureStage:
    """Reads a source on its own thread; frames go to `slot` (newest wins), audio packets to `audio`.

    The source ending is a normal stop (`end_reason`); a read error is `error`. Either way the slot is closed,
    so the consumer sees the end without polling.
    """

    def __init__(self, source: LiveSource, slot: LatestSlot[CapturedFrame], audio: queue.Queue | None,
                 read_timeout_s: float = 5.0) -> None:
        self.source = source
        self.read_timeout_s = read_timeout_s
        self.slot = slot
        self.audio = audio
        self.stats = CaptureStats()
        self.end_reason: str | None = None
        self.error: str | None = None
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self.run, name="capture", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self, join_timeout: float = 5.0) -> bool:
        """Ask the thread to end and wait for it; False if it is still stuck in a read after `join_timeout`."""
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(join_timeout)
        return not self._thread.is_alive()

    def captured_since(self, t: float) -> int:
        with self._lock:
            times = self.stats.capture_times
            n = 0
            for ct in reversed(times):
                if ct < t:
                    break
                n += 1
            return n

    @staticmethod
    def _decode_audio(packet: av.Packet) -> list[av.AudioFrame]:
        """Decoding sound costs little; a packet that will not decode is still copied where it can be."""
        try:
            return list(packet.decode())
        except av.error.FFmpegError:
            return []

    def run(self) -> None:
        paced = self.source.info.paced
        pace_origin: tuple[float, float] | None = None  # (monotonic, pts) of the first frame
        last_pts = 0.0
        index = 0
        try:
            for item in self.source.items():
                if self._stop.is_set():
                    break
                if isinstance(item, av.Packet):
                    if self.audio is not None:
                        self.audio.put(AudioItem(item, self._decode_audio(item)))
                        self.stats.audio_packets += 1
                    continue
                if paced and item.pts_s is not None:
                    if pace_origin is None or not -0.5 < item.pts_s - last_pts < MAX_PTS_STEP_S:
                        # First frame, or a timestamp discontinuity (stream restart, wrap): pace from here on
                        # instead of sleeping for the jump or bursting through a step back.
                        pace_origin = (time.monotonic(), item.pts_s)
                    last_pts = item.pts_s
                    due = pace_origin[0] + (item.pts_s - pace_origin[1])
                    # Wait in short steps so that stop() is honoured even on a slow source.
                    while not self._stop.is_set() and (delay := due - time.monotonic()) > 0:
                        time.sleep(min(delay, 0.05))
                    if self._stop.is_set():
                        break
                now = time.monotonic()
                rgb = self.source.to_rgb(item.frame)
                if self.stats.first_pts_s is None:
                    self.stats.first_pts_s = item.pts_s
                    self.stats.start_t = now
                with self._lock:
                    self.stats.captured += 1
                    self.stats.capture_times.append(now)
                    if len(self.stats.capture_times) > 4096:
                        del self.stats.capture_times[:2048]
                self.slot.put(CapturedFrame(rgb, now, item.pts_s, index))
                index += 1
            else:
                self.end_reason = "source ended"
        except av.error.ExitError:
            self.error = f"source lost: no data for {self.read_timeout_s:g} s"
        except (av.error.FFmpegError, OSError) as exc:
            self.error = f"source lost: {av_error_message(exc)}"
        except Exception as exc:  # an owner must hear about any failure, not a silent dead thread
            self.error = f"capture failed: {type(exc).__name__}: {exc}"
        finally:
            if self.end_reason is None and self.error is None:
                self.end_reason = "stopped"
            self.slot.close()
