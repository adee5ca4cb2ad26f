"""Training pairs made on the fly from folders of images and video files.

Everything is decoded once into memory as uint8 (the 291-image set is ~100 MB), and each HR image's LR is made
once with the evaluation protocol's own code (`vsr.metrics.evaluate.make_lr`: MATLAB bicubic, rounded to uint8),
so the network trains on exactly the kind of input `eval` scores it on. A batch is then only random aligned
crops, flips and 90-degree rotations, plus an optional H.264 round trip of the LR crop, or (`degrade`, see
vsr/training/degrade.py) an LR made from a short moving clip of the HR through blur or bicubic, noise and a real
encoder. Batch `i` is drawn from an RNG seeded with (seed, i), so the data stream does not depend on prefetching or
on where a run resumed.
"""

from __future__ import annotations

import collections
import concurrent.futures as cf
from dataclasses import dataclass, field
from pathlib import Path

import av
import numpy as np
import torch

from vsr.errors import ConfigError, InputError, VSRError
from vsr.io.roundtrip import CodecSpec, roundtrip_list
from vsr.metrics.evaluate import make_lr, mod_crop, to_8bit
from vsr.metrics.image_io import IMAGE_SUFFIXES, read_image
from vsr.training.degrade import ClipCache, DegradeConfig, degraded_pair

VIDEO_SUFFIXES = (".mp4", ".mkv", ".webm", ".avi", ".mov", ".m4v", ".ts", ".mts", ".flv", ".mpg", ".mpeg", ".wmv",
                  ".y4m")


@dataclass
class DataConfig:
    paths: list[str] = field(default_factory=list)  # folders (searched recursively), images, videos
    lr_patch: int = 48  # LR crop side; the HR crop is scale * lr_patch
    batch_size: int = 16
    flip: bool = True
    rotate: bool = True
    video_frames: int = 64  # frames sampled evenly across each video
    h264_prob: float = 0.0  # chance that an LR crop goes through an H.264 encode/decode
    h264_crf: list[int] = field(default_factory=lambda: [18, 38])  # CRF drawn uniformly from [lo, hi]
    degrade: DegradeConfig = field(default_factory=DegradeConfig)  # clips through blur/bicubic, noise, x264/x265
    workers: int = 1  # batch-making threads
    prefetch: int = 4  # batches made ahead of the model
    stacked_frames: int = 1  # > 1 (odd): LR frames around the target's stacked on channels (vsr/models/stacked.py)
    temporal_pairs: bool = False  # samples are two following frames of a clip (LR and HR 6 channels): loss.temporal

    def __post_init__(self) -> None:
        if self.lr_patch < 4 or self.batch_size < 1:
            raise ValueError("data.lr_patch must be >= 4 and data.batch_size >= 1")
        if (self.h264_prob > 0 or self.degrade.prob > 0) and self.lr_patch % 2:
            raise ValueError("data.lr_patch must be even when data.h264_prob or data.degrade.prob > 0 (4:2:0 video "
                             "needs even sizes)")
        if len(self.h264_crf) != 2 or self.h264_crf[0] > self.h264_crf[1]:
            raise ValueError("data.h264_crf must be [low, high]")
        if self.stacked_frames < 1 or self.stacked_frames % 2 == 0:
            raise ConfigError(f"data.stacked_frames must be odd and >= 1, not {self.stacked_frames}")
        if self.temporal_pairs and (self.stacked_frames > 1 or self.h264_prob > 0 or self.degrade.clip_frames < 2):
            raise ConfigError("data.temporal_pairs takes two frames of data.degrade clips (clip_frames >= 2); "
                              "not with stacked_frames or h264_prob")
        if self.stacked_frames > 1 and self.h264_prob > 0:  # a one-frame encode has no neighbours to stack
            raise ConfigError("data.stacked_frames > 1 takes its frames from data.degrade clips; set h264_prob 0")


@dataclass
class Example:
    name: str
    hr: np.ndarray  # (H, W, 3) uint8, H and W multiples of the scale
    lr: np.ndarray  # (H / scale, W / scale, 3) uint8


@dataclass
class LoadReport:
    images: int = 0
    videos: int = 0
    frames: int = 0
    skipped: dict[str, list[str]] = field(default_factory=dict)  # reason -> file names

    def skip(self, reason: str, name: str) -> None:
        self.skipped.setdefault(reason, []).append(name)

    @property
    def n_skipped(self) -> int:
        return sum(len(v) for v in self.skipped.values())

    def summary(self) -> str:
        parts = [f"{self.images} images", f"{self.frames} frames from {self.videos} videos"]
        parts += [f"{len(names)} skipped ({reason})" for reason, names in self.skipped.items()]
        return ", ".join(parts)


def collect_files(paths: list[str | Path]) -> list[Path]:
    """The image and video files named by `paths` (folders are searched recursively, sorted)."""
    if not paths:
        raise ConfigError("no training data: give {data} DIR_OR_FILE (or data.paths in the config)")
    known = IMAGE_SUFFIXES + VIDEO_SUFFIXES
    files: list[Path] = []
    for p in map(Path, paths):
        if p.is_dir():
            found = sorted(f for f in p.rglob("*") if f.is_file() and f.suffix.lower() in known)
            if not found:
                raise InputError(f"{p}: no images or videos in this folder")
            files += found
        elif p.is_file():
            if p.suffix.lower() not in known:
                raise InputError(f"{p}: not an image or video file (by its extension)")
            files.append(p)
        else:
            raise InputError(f"training data not found: {p}")
    return files


def read_video_frames(path: Path, count: int) -> list[np.ndarray]:
    """Up to `count` RGB uint8 frames spread evenly across the whole video (an empty list when it has none).

    A first pass counts the video packets without decoding; the second decodes and keeps the chosen indices.
    """
    from vsr.io.colour import describe_frame, to_rgb

    with av.open(str(path)) as container:
        if not container.streams.video:
            return []
        n = sum(1 for pkt in container.demux(video=0) if pkt.size)
    if n == 0:
        return []
    wanted = set(np.linspace(0, n - 1, min(count, n)).round().astype(int).tolist())
    frames = []
    with av.open(str(path)) as container:
        for i, frame in enumerate(container.decode(video=0)):
            if i in wanted:
                frames.append(to_rgb(frame, describe_frame(frame), deep=False))
            if i >= max(wanted):
                break
    return frames


def _as_rgb8(img: np.ndarray) -> np.ndarray:
    img = to_8bit(img)
    return np.repeat(img[..., None], 3, axis=2) if img.ndim == 2 else img


def load_training_set(paths: list[str | Path], scale: int, lr_patch: int, video_frames: int = 64
                      ) -> tuple[list[Example], LoadReport]:
    """Decode every source once; skip (and count) unreadable files, videos without frames and too-small images."""
    hr_min = lr_patch * scale
    report = LoadReport()
    examples: list[Example] = []

    def add(name: str, img: np.ndarray) -> None:
        hr = mod_crop(_as_rgb8(img), scale)
        if min(hr.shape[:2]) < hr_min:
            report.skip(f"smaller than the {hr_min}x{hr_min} crop", name)
            return
        examples.append(Example(name, np.ascontiguousarray(hr), make_lr(hr, scale)))

    for f in collect_files(paths):
        if f.suffix.lower() in VIDEO_SUFFIXES:
            try:
                frames = read_video_frames(f, video_frames)
            except (av.error.FFmpegError, OSError, ValueError) as exc:
                report.skip(f"unreadable video: {type(exc).__name__}", f.name)
                continue
            if not frames:
                report.skip("video with no frames", f.name)
                continue
            report.videos += 1
            before = len(examples)
            for k, fr in enumerate(frames):
                add(f"{f.name}#{k}", fr)
            report.frames += len(examples) - before
        else:
            try:
                img = read_image(f)
            except VSRError:
                report.skip("unreadable image", f.name)
                continue
            before = len(examples)
            add(f.name, img)
            report.images += len(examples) - before
    if not examples:
        raise InputError(f"no usable training data in {', '.join(map(str, paths))}: {report.summary()}")
    return examples, report


def h264_roundtrip(lr: np.ndarray, crf: int) -> np.ndarray:
    """The LR crop encoded as one H.264 intra frame (yuv420p, libx264 at `crf`) and decoded back to RGB uint8."""
    return roundtrip_list([lr], CodecSpec("libx264", crf=crf, preset="veryfast", fps=25))[0]


def sample_pair(examples: list[Example], rng: np.random.Generator, cfg: DataConfig, scale: int, index: int = 0,
                cache: ClipCache | None = None) -> tuple[np.ndarray, np.ndarray]:
    """One aligned (lr, hr) uint8 crop pair, randomly flipped/rotated and maybe H.264- or clip-degraded (`index`:
    the batch's, for the clip cache). With `cfg.stacked_frames` k > 1 the LR is (p, p, 3k): k frames of a degraded
    clip around the target's, or for a clean pair the one LR crop k times (a still image does not move)."""
    if cfg.degrade.prob > 0 and rng.random() < cfg.degrade.prob:
        lr, hr = degraded_pair([e.hr for e in examples], rng, cfg.degrade, scale, cfg.lr_patch, index, cache,
                               cfg.stacked_frames, following=cfg.temporal_pairs)
    else:
        ex = examples[int(rng.integers(len(examples)))]
        p = cfg.lr_patch
        h, w = ex.lr.shape[:2]
        y, x = int(rng.integers(h - p + 1)), int(rng.integers(w - p + 1))
        lr = ex.lr[y:y + p, x:x + p]
        hr = ex.hr[y * scale:(y + p) * scale, x * scale:(x + p) * scale]
        if cfg.stacked_frames > 1:
            lr = np.concatenate([lr] * cfg.stacked_frames, axis=2)
        if cfg.temporal_pairs:  # a still image: the following frame is the same
            lr, hr = np.concatenate([lr, lr], axis=2), np.concatenate([hr, hr], axis=2)
    if cfg.flip and rng.random() < 0.5:
        lr, hr = lr[:, ::-1], hr[:, ::-1]
    if cfg.flip and rng.random() < 0.5:
        lr, hr = lr[::-1], hr[::-1]
    if cfg.rotate and rng.random() < 0.5:  # with both flips this covers all 8 rotations/reflections
        lr, hr = lr.transpose(1, 0, 2), hr.transpose(1, 0, 2)
    if cfg.h264_prob > 0 and rng.random() < cfg.h264_prob:
        crf = int(rng.integers(cfg.h264_crf[0], cfg.h264_crf[1] + 1))
        try:
            lr = h264_roundtrip(lr, crf)
        except VSRError:  # a codec hiccup costs one sample its degradation, never the run
            pass
    return np.ascontiguousarray(lr), np.ascontiguousarray(hr)


def make_batch(examples: list[Example], cfg: DataConfig, scale: int, seed: int, index: int,
               cache: ClipCache | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Batch `index`: float32 (B, 3 * stacked_frames, p, p) LR and (B, 3, s*p, s*p) HR in [0, 1] (with
    `temporal_pairs`: (B, 6, p, p) and (B, 6, s*p, s*p), frames t and t + 1)."""
    rng = np.random.default_rng([seed, index])
    pairs = [sample_pair(examples, rng, cfg, scale, index, cache) for _ in range(cfg.batch_size)]
    lr = np.stack([a for a, _ in pairs])
    hr = np.stack([b for _, b in pairs])

    def to_tensor(a: np.ndarray) -> torch.Tensor:
        return torch.from_numpy(a).permute(0, 3, 1, 2).float().div_(255.0).contiguous()

    return to_tensor(lr), to_tensor(hr)


class BatchLoader:
    """Makes batches start, start+1, ... on worker threads, `prefetch` ahead, delivered in order.

    The owner must call close() (or use it as a context manager); pending work is cancelled and the threads joined.
    """

    def __init__(self, examples: list[Example], cfg: DataConfig, scale: int, seed: int, start: int = 0) -> None:
        self.cache = (ClipCache(cfg.degrade, scale, cfg.lr_patch, seed)
                      if cfg.degrade.prob > 0 and cfg.degrade.cache_slots else None)
        self._args = (examples, cfg, scale, seed)
        self._pool = cf.ThreadPoolExecutor(max_workers=max(1, cfg.workers), thread_name_prefix="train-data")
        self._pending: collections.deque[cf.Future] = collections.deque()
        self._next = start
        for _ in range(max(1, cfg.prefetch)):
            self._submit()

    def _submit(self) -> None:
        self._pending.append(self._pool.submit(make_batch, *self._args, self._next, self.cache))
        self._next += 1

    def next(self) -> tuple[torch.Tensor, torch.Tensor]:
        fut = self._pending.popleft()
        self._submit()
        return fut.result()

    def close(self) -> None:
        for fut in self._pending:
            fut.cancel()
        self._pending.clear()
        self._pool.shutdown(wait=True)

    def __enter__(self) -> BatchLoader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
