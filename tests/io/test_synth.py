"""The generated clips of demo, bench and soak: a real GOP (not every frame a keyframe), audio, atomically
written."""

from __future__ import annotations

from pathlib import Path

import av

from vsr.io.synth import write_pattern_clip


def test_pattern_clip_has_a_real_gop_and_keeps_the_asked_keyframe_interval(tmp_path: Path) -> None:
    clip = write_pattern_clip(tmp_path / "c.mp4", 64, 36, seconds=2.0, rate=30, gop=15)
    with av.open(str(clip)) as c:
        keys = [p.pts for p in c.demux(video=0) if p.size and p.is_keyframe]
        tb = c.streams.video[0].time_base
    with av.open(str(clip)) as c:
        frames = sum(1 for _ in c.decode(video=0))
    with av.open(str(clip)) as c:
        audio = sum(1 for p in c.demux(c.streams.audio[0]) if p.size)
    assert frames == 60 and audio > 0
    # lavfi marks each frame I; the encoder must not obey that (a clip of keyframes only cuts anywhere).
    assert [round(float(k * tb) * 30) for k in keys] == [0, 15, 30, 45]
    assert [p.name for p in tmp_path.iterdir()] == ["c.mp4"]
