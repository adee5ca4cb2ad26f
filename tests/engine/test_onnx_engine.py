"""OnnxEngine: frames in -> frames out equal to the torch engine's, submit/collect order, IO binding (on CPU tensors
here), the TensorRT backend's one-line error without its provider, and the provider options (device_id of
cuda:N, TensorRT's fp16 flag, caches and shape profiles) built by the pure functions. CUDA/TensorRT runs at the end
are skipped without a GPU."""

from __future__ import annotations

import copy

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from vsr.engine.frames import as_frame_tensor, float_to_frames, frames_to_float
from vsr.engine.onnx_engine import OnnxEngine
from vsr.engine.onnx_providers import (
    CPU,
    CUDA,
    TRT,
    ShapeProfile,
    choose_providers,
    model_file_name,
    parse_device,
    provider_options,
    tensorrt_cache_dir,
    tensorrt_provider_options,
)
from vsr.engine.runner import Engine, EngineConfig
from vsr.errors import VSRError
from vsr.models import load_model

from ..conftest import SHARED, run_pipelined

ort = pytest.importorskip("onnxruntime")

LIGHT = SHARED / "weights" / "ais2024_light_safmnpp_x4.pth"
HAS_CUDA_EP = torch.cuda.is_available() and CUDA in ort.get_available_providers()
HAS_TRT_EP = torch.cuda.is_available() and TRT in ort.get_available_providers()


def _frames(n: int, h: int, w: int, seed: int = 0, dtype=np.uint8) -> np.ndarray:
    """Image-like integer frames (N, H, W, 3): the SAFMN++ family is ill-conditioned on white noise."""
    coarse = torch.rand(n, 3, max(2, h // 6), max(2, w // 6), generator=torch.Generator().manual_seed(seed))
    x = F.interpolate(coarse, size=(h, w), mode="bicubic", align_corners=False).clamp(0, 1)
    peak = np.iinfo(dtype).max
    return (x * peak).round().permute(0, 2, 3, 1).contiguous().numpy().astype(dtype)


@pytest.fixture(scope="module")
def light():
    return load_model(LIGHT)


@pytest.fixture(scope="module")
def onnx_cpu(light):
    module, spec = light
    notices: list[str] = []
    engine = OnnxEngine(module, spec.scale, "cpu", threads=2, notice=notices.append)
    assert notices == []
    return engine


@pytest.fixture(scope="module")
def torch_cpu(light):
    module, spec = light
    return Engine(module, spec.scale, EngineConfig(device="cpu", precision="fp32", cpu_workers=1))


@pytest.mark.parametrize("dtype", [np.uint8, np.uint16])
def test_frames_match_the_torch_engine_within_one_level(onnx_cpu, torch_cpu, dtype):
    frames = _frames(2, 24, 32, dtype=dtype)
    out = onnx_cpu(frames)
    assert isinstance(out, np.ndarray) and out.dtype == dtype and out.shape == (2, 96, 128, 3)
    ref = torch_cpu(frames)
    assert ref.dtype == dtype and ref.shape == out.shape
    assert np.abs(out.astype(np.int64) - ref.astype(np.int64)).max() <= 1
    # integer torch frames come back as a torch tensor, the same values
    back = onnx_cpu(torch.from_numpy(frames))
    assert isinstance(back, torch.Tensor) and np.array_equal(back.numpy(), out)


def test_float_input_gives_a_float_cpu_tensor(onnx_cpu, torch_cpu):
    x = frames_to_float(as_frame_tensor(_frames(1, 24, 32, seed=3)))
    y = onnx_cpu(x)
    assert y.dtype == torch.float32 and y.device.type == "cpu" and y.shape == (1, 3, 96, 128)
    assert 0 <= y.min() and y.max() <= 1
    assert (y - torch_cpu(x)).abs().max() <= 1e-4


def test_submit_collect_hands_batches_back_in_order(onnx_cpu):
    batches = [_frames(n, 24, 32, seed=s) for s, n in ((1, 1), (2, 2), (3, 1))]
    direct = [onnx_cpu(b) for b in batches]
    assert onnx_cpu.can_submit and onnx_cpu.in_flight == 0
    got = run_pipelined(onnx_cpu, batches)
    assert onnx_cpu.in_flight == 0
    assert [g.shape[0] for g in got] == [1, 2, 1]
    assert all(np.array_equal(g, d) for g, d in zip(got, direct, strict=True))
    with pytest.raises(RuntimeError):
        onnx_cpu.collect()


def test_interface_matches_the_torch_engine(onnx_cpu):
    assert onnx_cpu.precision == "fp32" and onnx_cpu.device == torch.device("cpu")
    assert onnx_cpu.stats().copy_times is None  # no copies on the CPU, as Engine
    assert onnx_cpu.describe().startswith("onnxruntime CPUExecutionProvider fp32")
    with pytest.raises(VSRError, match="frames must be"):
        onnx_cpu(np.zeros((1, 8, 8, 4), np.uint8))
    with pytest.raises(VSRError, match="float tensor"):
        onnx_cpu(torch.zeros(1, 4, 8, 8))
    onnx_cpu.close()
    assert onnx_cpu(_frames(1, 8, 8)).shape == (1, 32, 32, 3)  # still callable after close, as Engine


def test_io_binding_path_on_cpu_tensors_equals_session_run(onnx_cpu, light):
    """The bound path (input and output bound by pointer to torch tensors) on the CPU provider: the same
    bind_input/bind_output/run_with_iobinding calls the GPU makes, on CPU buffers."""
    module, spec = light
    bound = OnnxEngine(module, spec.scale, "cpu", threads=2, io_binding=True)
    frames = _frames(2, 20, 28, seed=5)
    assert np.array_equal(bound(frames), onnx_cpu(frames))
    assert run_pipelined(bound, [frames[:1], frames])[1].shape == (2, 80, 112, 3)


# ---- TensorRT and CUDA options: pure, no GPU needed --------------------------------------------------------------


def test_tensorrt_backend_without_its_provider_is_a_one_line_error(light):
    module, spec = light
    if TRT in ort.get_available_providers():
        pytest.skip("this onnxruntime has the TensorRT provider")
    with pytest.raises(VSRError) as err:
        OnnxEngine(module, spec.scale, "auto", backend="tensorrt")
    message = str(err.value)
    assert "\n" not in message and TRT in message and "pip install onnxruntime-gpu" in message
    with pytest.raises(VSRError, match="pip install onnxruntime-gpu"):
        choose_providers("cuda", "tensorrt", [CPU])
    with pytest.raises(VSRError, match="runs on a GPU"):
        choose_providers("cpu", "tensorrt", [TRT, CUDA, CPU])
    with pytest.raises(VSRError, match="unknown backend"):
        choose_providers("cpu", "openvino", [CPU])


def test_providers_in_order_with_notices():
    assert choose_providers("cuda", "tensorrt", [TRT, CUDA, CPU]) == ([TRT, CUDA, CPU], [])
    assert choose_providers("cuda", "onnxruntime", [TRT, CUDA, CPU]) == ([TRT, CUDA, CPU], [])
    providers, notices = choose_providers("cuda", "onnxruntime", [CUDA, CPU])
    assert providers == [CUDA, CPU] and "TensorRT" in notices[0]
    providers, notices = choose_providers("cuda", "onnxruntime", [CPU])
    assert providers == [CPU] and "CUDA" in notices[0]
    assert choose_providers("cpu", "onnxruntime", [TRT, CUDA, CPU]) == ([CPU], [])


def test_cuda_n_is_the_device_id_of_both_gpu_providers(tmp_path):
    assert parse_device("cuda:1") == ("cuda", 1) and parse_device("cuda") == ("cuda", 0)
    assert parse_device("cpu") == ("cpu", 0)
    for bad in ("cuda:x", "gpu", "cuda:"):
        with pytest.raises(VSRError, match="unknown device"):
            parse_device(bad)
    profile = ShapeProfile.first(2, 24, 32)
    trt, cuda, cpu = provider_options([TRT, CUDA, CPU], "cuda:1", "fp32", tmp_path, profile)
    assert trt["device_id"] == 1 and cuda["device_id"] == 1 and cpu == {}
    assert [o["device_id"] for o in provider_options([CUDA, CPU], "cuda", "fp32")[:1]] == [0]
    # the torch stream onnxruntime runs on, and exact fp32 where onnxruntime has the option
    (cuda,) = provider_options([CUDA], "cuda:0", "fp32", stream=1234, tf32_option=True)
    assert cuda["user_compute_stream"] == "1234" and cuda["has_user_compute_stream"] is True
    assert cuda["use_tf32"] is False
    assert "use_tf32" not in provider_options([CUDA], "cuda:0", "fp32")[0]
    assert provider_options([CUDA], "cuda:0", "fp16", tf32_option=True)[0]["use_tf32"] is True


def test_tensorrt_options_have_fp16_caches_and_profile(tmp_path):
    profile = ShapeProfile.first(2, 24, 32, max_batch=4)
    opts = tensorrt_provider_options(0, "fp16", tmp_path, profile)
    assert opts["trt_fp16_enable"] is True and opts["trt_layer_norm_fp32_fallback"] is True
    assert opts["trt_engine_cache_enable"] is True and opts["trt_engine_cache_path"] == str(tmp_path)
    assert opts["trt_timing_cache_enable"] is True and opts["trt_timing_cache_path"] == str(tmp_path)
    assert opts["trt_profile_min_shapes"] == "lr:1x3x24x32"
    assert opts["trt_profile_opt_shapes"] == "lr:2x3x24x32"
    assert opts["trt_profile_max_shapes"] == "lr:4x3x24x32"
    fp32 = tensorrt_provider_options(0, "fp32", tmp_path, profile)
    assert fp32["trt_fp16_enable"] is False and fp32["trt_layer_norm_fp32_fallback"] is False
    # onnxruntime turns every value into a string; booleans become the True/False it parses
    assert {str(v) for k, v in opts.items() if k.endswith("_enable")} == {"True"}


def test_shape_profile_covers_and_widens_once():
    p = ShapeProfile.first(4, 180, 320)
    assert p.covers(1, 180, 320) and p.covers(4, 180, 320)  # a short last batch: same engine
    assert not p.covers(5, 180, 320) and not p.covers(4, 181, 320)
    wider = p.widened(2, 240, 100)
    assert wider == ShapeProfile((1, 180, 100), (4, 180, 320), (4, 240, 320))
    assert wider.covers(2, 240, 100) and wider.covers(4, 180, 320) and wider.covers(3, 200, 200)
    assert p.widened(8, 180, 320).max == (8, 180, 320)
    assert "1x3x180x320..4x3x180x320" in str(p)


def test_a_batch_outside_the_profile_rebuilds_the_session_once_with_a_notice(onnx_cpu):
    """The profile logic of a TensorRT engine, with the session build recorded instead of run."""
    engine = copy.copy(onnx_cpu)
    builds: list[ShapeProfile] = []
    notices: list[str] = []
    engine._trt, engine.profile, engine.max_batch, engine.notice = True, None, 4, notices.append
    engine._build = lambda: builds.append(engine.profile)
    engine._session_for(2, 24, 32)
    engine._session_for(1, 24, 32)  # a short last batch: inside
    assert builds == [ShapeProfile((1, 24, 32), (2, 24, 32), (4, 24, 32))] and notices == []
    engine._session_for(2, 30, 36)
    assert len(builds) == 2 and builds[1].covers(2, 30, 36) and builds[1].opt == (2, 24, 32)
    assert len(notices) == 1 and "outside the engine's profile" in notices[0] and "rebuilding" in notices[0]
    engine._session_for(3, 26, 34)  # inside the widened profile
    assert len(builds) == 2 and len(notices) == 1
    assert "profile 1x3x24x32..4x3x30x36" in engine.describe()


def test_tensorrt_cache_beside_the_weights_cache(monkeypatch, tmp_path):
    monkeypatch.setenv("VSR_CACHE_DIR", str(tmp_path / "c"))
    assert tensorrt_cache_dir() == tmp_path / "c" / "tensorrt"
    monkeypatch.delenv("VSR_CACHE_DIR")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert tensorrt_cache_dir() == tmp_path / "xdg" / "vsr" / "tensorrt"


def test_cached_model_file_names_carry_content_and_precision():
    a, b = model_file_name(b"model a", "fp16"), model_file_name(b"model b", "fp16")
    assert a != b and a.endswith("-fp16.onnx")
    assert model_file_name(b"model a", "fp32") != a and model_file_name(b"model a", "fp16") == a


# ---- on a GPU ------------------------------------------------------------------------------------------------


@pytest.mark.skipif(not HAS_CUDA_EP, reason="needs CUDA and onnxruntime's CUDA provider (none here)")
def test_cuda_provider_io_binding_matches_cpu(light, onnx_cpu):
    module, spec = light
    notices: list[str] = []
    engine = OnnxEngine(module, spec.scale, "cuda:0", notice=notices.append, precision="fp32")
    assert engine.device.type == "cuda" and "IO binding" in engine.describe()
    frames = [_frames(2, 24, 32, seed=s) for s in range(3)]
    got = run_pipelined(engine, frames)
    for g, f in zip(got, frames, strict=True):
        assert g.dtype == np.uint8 and np.abs(g.astype(int) - onnx_cpu(f).astype(int)).max() <= 1
    assert engine.stats().copy_times.batches == 3 and engine.stats().copy_times.compute_ms > 0
    y = engine(frames_to_float(as_frame_tensor(frames[0])))
    assert y.device.type == "cpu" and y.dtype == torch.float32
    ref = float_to_frames(y, torch.uint8).numpy()
    assert np.abs(ref.astype(int) - got[0].astype(int)).max() <= 1


@pytest.mark.skipif(not HAS_TRT_EP, reason="needs CUDA and onnxruntime's TensorRT provider (none here)")
def test_tensorrt_fp16_builds_caches_and_widens_its_profile(light, onnx_cpu, tmp_path):
    from vsr.engine.device import psnr_db

    module, spec = light
    notices: list[str] = []
    engine = OnnxEngine(module, spec.scale, "cuda:0", notice=notices.append, precision="fp16",
                        backend="tensorrt", cache_dir=tmp_path, max_batch=2)
    frames = _frames(2, 24, 32)
    out = engine(frames)
    assert any("TensorRT fp16:" in n for n in notices)
    ref = onnx_cpu(frames)
    assert psnr_db(torch.from_numpy(out).float() / 255, torch.from_numpy(ref).float() / 255) >= 40
    assert list(tmp_path.glob("*.onnx")) and list(tmp_path.glob("*.engine"))
    engine(_frames(1, 28, 36))  # outside the profile: one rebuild with a notice
    assert sum("rebuilding" in n for n in notices) == 1
    engine(_frames(2, 26, 30))  # inside the widened one: no rebuild
    assert sum("rebuilding" in n for n in notices) == 1
