"""CPU frame workers: batches side by side, in order, each worker with its share of the threads, and stopped."""

from __future__ import annotations

import gc
import threading

import pytest
import torch

from vsr.engine.device import probe_image
from vsr.engine.runner import Engine, EngineConfig
from vsr.engine.workers import FrameWorkers
from vsr.errors import VSRError
from vsr.models import load_model

from ..conftest import SHARED, run_pipelined


def _worker_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name.startswith("vsr-engine-worker")]


@pytest.fixture(scope="module")
def light():
    module, _ = load_model(SHARED / "weights" / "ais2024_light_safmnpp_x4.pth")
    return module


def test_two_workers_return_every_batch_in_order_equal_to_a_direct_call(light):
    batches = [probe_image(24), probe_image(24).flip(-1), probe_image(32).flip(-2), probe_image(24).roll(5, -1),
               torch.cat([probe_image(24), probe_image(24).flip(-1)])]
    with Engine(light, 4, EngineConfig(device="cpu", precision="fp32", cpu_workers=2)) as engine:
        assert engine.cpu_workers == 2 and "2 frames in parallel" in engine.describe()
        results = run_pipelined(engine, batches)
        assert engine.can_submit and len(_worker_threads()) == 2
        for b, r in zip(batches, results, strict=True):
            assert r.shape == (b.shape[0], 3, b.shape[2] * 4, b.shape[3] * 4)
            assert (r - engine(b)).abs().max().item() <= 1e-6  # a worker's thread count changes no result
    assert _worker_threads() == []


def test_auto_uses_two_workers_on_a_multi_core_cpu_and_one_when_compiling(light):
    engine = Engine(light, 4, EngineConfig(device="cpu", precision="fp32"))
    assert engine.cpu_workers == (2 if torch.get_num_threads() >= 2 else 1)
    assert Engine(light, 4, EngineConfig(device="cpu", precision="fp32", compile=True)).cpu_workers == 1
    with pytest.raises(VSRError, match="cpu_workers"):
        Engine(light, 4, EngineConfig(device="cpu", precision="fp32", cpu_workers=-1))


def test_workers_get_their_share_of_threads_and_leave_the_callers_count_alone():
    before = torch.get_num_threads()
    with FrameWorkers(lambda x: torch.get_num_threads(), 2, 1) as workers:
        assert [workers.submit(torch.zeros(1)).result() for _ in range(4)] == [1, 1, 1, 1]
        seen = []
        fresh = threading.Thread(target=lambda: seen.append(torch.get_num_threads()))
        fresh.start()
        fresh.join()
    # a thread started after the workers begins with the process's count, not the workers' share
    assert torch.get_num_threads() == before and seen == [before]


def test_an_error_in_a_worker_reaches_collect_and_the_workers_go_on(light):
    with Engine(light, 4, EngineConfig(device="cpu", precision="fp32", cpu_workers=2)) as engine:
        engine.submit(probe_image(16))
        engine.submit(probe_image(16).double())  # float64 against float32 weights: fails inside the model
        assert engine.collect().shape == (1, 3, 64, 64)
        with pytest.raises(RuntimeError, match="[Dd]ouble|type"):
            engine.collect()
        engine.submit(probe_image(16))
        assert engine.collect().shape == (1, 3, 64, 64)


def test_an_engine_dropped_without_close_stops_its_workers(light):
    engine = Engine(light, 4, EngineConfig(device="cpu", precision="fp32", cpu_workers=2))
    run_pipelined(engine, [probe_image(16)] * 3)
    assert len(_worker_threads()) == 2
    del engine
    gc.collect()
    for t in threading.enumerate():
        if t.name.startswith("vsr-engine-worker"):
            t.join(timeout=5)
    assert _worker_threads() == []


def test_the_file_pipeline_writes_the_same_video_with_one_or_two_workers(light, tmp_path):
    from fractions import Fraction

    from pipelines.upscale import PassOptions, upscale_file

    from ..media_factory import AudioSpec, decode_info, make_clip, stream_packets

    src = make_clip(tmp_path / "in.mp4", width=48, height=32, frames=7, audio=[AudioSpec()],
                    pts=[0, 1, 2, 4, 5, 8, 9], time_base=Fraction(1, 25))  # VFR: timestamps must pass through
    outs = []
    for workers in (1, 2):
        out = tmp_path / f"w{workers}.mp4"
        with Engine(light, 4, EngineConfig(device="cpu", precision="fp32", cpu_workers=workers)) as engine:
            upscale_file(src, out, engine, 4, opts=PassOptions(progress=False))
        outs.append(out)
    a, b = (decode_info(o) for o in outs)
    assert a["frames"] == b["frames"] == 7 and a["times"] == b["times"] == decode_info(src)["times"]
    assert a["size"] == (192, 128)
    assert stream_packets(outs[0], 0) == stream_packets(outs[1], 0)  # the same frames, in the same order
    assert stream_packets(outs[0], 1) == stream_packets(outs[1], 1) == stream_packets(src, 1)  # audio copied
