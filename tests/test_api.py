"""The Python API (`import vsr_safmn`) as a script or notebook calls it: real models, real files, real codecs."""

from __future__ import annotations

from pathlib import Path

import av
import numpy as np
import pytest
import torch

import vsr_safmn
from tests.conftest import run_cli
from tests.media_factory import make_clip, quadrant_frame
from vsr.metrics.image_io import read_image, write_image

X2 = "safmn-default-x2"  # shipped in the package: no download


@pytest.fixture(scope="module")
def up():
    with vsr_safmn.Upscaler(X2, precision="fp32") as upscaler:
        yield upscaler


def test_load_model_by_shipped_name_and_by_checkpoint_path(shared):
    shipped = vsr_safmn.load_model(X2)
    assert (shipped.name, shipped.scale, shipped.arch.family) == (X2, 2, "safmn")
    path = shared / "weights" / "ntire2023_safmn_x4.pth"
    official = vsr_safmn.load_model(path)
    assert (official.scale, official.arch.family, official.source) == (4, "ntire23-safmn", str(path))
    with pytest.raises(vsr_safmn.ModelError, match="is a x4 model, but scale 2"):
        vsr_safmn.load_model(path, scale=2)


def test_a_bad_model_name_or_setting_is_a_one_line_vsr_error():
    with pytest.raises(vsr_safmn.VSRError) as err:
        vsr_safmn.Upscaler("safmn-x9")
    assert "unknown model 'safmn-x9'" in str(err.value) and "\n" not in str(err.value)
    with pytest.raises(vsr_safmn.ConfigError, match="tile -1"):
        vsr_safmn.Upscaler(X2, tile=-1)
    with pytest.raises(vsr_safmn.ConfigError, match="unknown setting crff"):
        vsr_safmn.upscale_file("in.mp4", "out.mp4", crff=18)


def test_frames_batches_and_tensors_come_back_in_their_own_kind(up, tmp_path):
    frames = np.stack([quadrant_frame(16, 12, i) for i in range(3)])
    one = up(frames[0])
    assert (one.shape, one.dtype, up.scale) == ((24, 32, 3), np.uint8, 2)
    batch = up(frames)
    assert (batch.shape, batch.dtype) == ((3, 24, 32, 3), np.uint8)
    assert np.array_equal(batch[0], one)
    deep = up(frames.astype(np.uint16) * 257)
    assert deep.dtype == np.uint16 and deep.shape == (3, 24, 32, 3)
    images = torch.from_numpy(frames).permute(0, 3, 1, 2).float() / 255
    out = up(images)
    assert isinstance(out, torch.Tensor) and out.dtype == torch.float32 and out.shape == (3, 3, 24, 32)
    assert up(images[1]).shape == (3, 24, 32)
    # the same frame as the `image` command writes it
    write_image(tmp_path / "in.png", frames[1])
    done = run_cli("image", str(tmp_path / "in.png"), "-o", str(tmp_path / "cli.png"), "--model", X2,
                   "--precision", "fp32")
    assert done.returncode == 0, done.stderr
    assert np.array_equal(read_image(tmp_path / "cli.png"), batch[1])
    result = up.image(tmp_path / "in.png", tmp_path / "api.png")
    assert result.output_size == (32, 24)
    assert np.array_equal(read_image(tmp_path / "api.png"), batch[1])
    with pytest.raises(vsr_safmn.InputError, match="is the input"):
        up.image(tmp_path / "in.png", tmp_path / "in.png")
    with pytest.raises(vsr_safmn.InputError):
        up(frames[0, :, :, 0])


def test_a_batch_split_across_calls_equals_one_call(tmp_path):
    frames = np.stack([quadrant_frame(16, 12, i) for i in range(5)])
    with vsr_safmn.Upscaler(X2, precision="fp32", batch=2) as split, \
            vsr_safmn.Upscaler(X2, precision="fp32", batch=5) as whole:
        assert np.array_equal(split(frames), whole(frames))


def test_upscale_file_reports_progress_and_returns_the_report(tmp_path):
    src = make_clip(tmp_path / "in.mp4", 32, 18, frames=8)
    calls: list[tuple[int, int | None]] = []
    report = vsr_safmn.upscale_file(src, tmp_path / "out.mkv", model=X2, config="cpu", codec="libx264", crf=30,
                                    progress=lambda done, total: calls.append((done, total)))
    assert isinstance(report, vsr_safmn.FileReport)
    assert (report.frames_in, report.frames, report.output_size, report.model) == (8, 8, [64, 36], X2)
    written = [done for done, _ in calls]
    assert written == sorted(set(written)) and written[-1] == report.frames
    assert {total for _, total in calls} == {8}
    with av.open(str(tmp_path / "out.mkv")) as c:
        assert sum(1 for _ in c.decode(video=0)) == 8
    with pytest.raises(vsr_safmn.InputError, match="exists"):
        vsr_safmn.upscale_file(src, tmp_path / "out.mkv", model=X2)


def test_run_live_records_a_lavfi_source(tmp_path):
    out = tmp_path / "live.mp4"
    result = vsr_safmn.run_live("lavfi:testsrc2=size=32x18:rate=10", model="safmnpp-light-default-x2",
                                duration=1.0, record=out)
    report = result.report
    assert report.stop_reason.startswith("duration") and not report.error
    assert report.output_size == [64, 36] and report.outputs == [str(out)]
    assert report.recorded_frames == report.processed > 0 and len(result.frames) == report.processed
    with av.open(str(out)) as c:
        assert sum(1 for _ in c.decode(video=0)) == report.recorded_frames


def test_open_live_is_stepped_by_the_caller_who_sees_the_frames():
    log: list[str] = []
    seen: list[tuple[tuple[int, ...], tuple[int, ...]]] = []
    with vsr_safmn.open_live("lavfi:testsrc2=size=32x18:rate=10", model=X2, log=log.append,
                             on_frame=lambda out, src: seen.append((out.shape, src.shape))) as live:
        while live.step() and len(seen) < 3:
            pass
    report = live.result().report
    assert report.processed == len(seen) >= 3 and report.outputs == []
    assert set(seen) == {((36, 64, 3), (18, 32, 3))}
    assert any(line.startswith("model: safmn-default-x2") for line in log)


def test_the_package_says_what_it_exports():
    assert Path(vsr_safmn.__file__).parent.name == "vsr_safmn"
    for name in vsr_safmn.__all__:
        assert getattr(vsr_safmn, name).__doc__, name
