"""The machine the figures come from: CPU, libraries, and the GPU as torch and nvidia-smi describe it."""

from __future__ import annotations

import os
import platform
import subprocess
from pathlib import Path
from typing import Any

from pipelines.bench.config import BenchConfig, BenchJob
from pipelines.bench.spawn import child
from vsr.errors import VSRError


def machine_info(codec: str = "libx264", device: str = "auto") -> dict[str, Any]:
    """The host, the libraries and, where CUDA is present, the GPU (`gpu`, see `child_device`). The GPU is queried
    in a child process: a CUDA context in this process would hold GPU memory for the whole run (and shrink what
    `--batch best` finds free)."""
    import av
    import torch

    info: dict[str, Any] = {
        "cpu": _cpu_model(), "cpu_cores": os.cpu_count(), "cpu_affinity": len(os.sched_getaffinity(0)),
        "cpu_flags": _cpu_flags(), "platform": platform.platform(), "python": platform.python_version(),
        "torch": torch.__version__, "torch_threads": torch.get_num_threads(), "pyav": av.__version__,
        "ffmpeg": {k: ".".join(map(str, v)) for k, v in av.library_versions.items()},
        "codecs": {c: c in av.codecs_available for c in (codec, "h264", "aac", "libopus")},
        "gpu": None,
    }
    if torch.cuda.is_available():  # counts devices without creating a context
        try:
            info["gpu"] = child("device", BenchJob(device=device), BenchConfig(), optimised=False)["gpu"]
        except VSRError as exc:  # the benchmark itself says what is wrong with the device, if anything
            info["gpu"] = {"error": str(exc)}
    return info


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _cpu_flags() -> list[str]:
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return []
    flags = next((ln.split(":", 1)[1].split() for ln in text.splitlines() if ln.startswith("flags")), [])
    wanted = ("avx2", "fma", "avx512f", "avx512_bf16", "avx512_vnni", "amx_bf16", "f16c")
    return [f for f in wanted if f in flags]


# nvidia-smi --query-gpu fields -> report keys (queried with nounits: MiB, MHz, W, degrees C)
SMI_FIELDS = {
    "uuid": "uuid", "name": "name", "driver_version": "driver", "pstate": "pstate",
    "clocks.sm": "clocks_sm_mhz", "clocks.mem": "clocks_mem_mhz", "clocks.max.sm": "clocks_max_sm_mhz",
    "clocks.max.mem": "clocks_max_mem_mhz", "power.draw": "power_draw_w", "power.limit": "power_limit_w",
    "temperature.gpu": "temperature_c", "memory.total": "memory_total_mib", "memory.used": "memory_used_mib",
}
# what older drivers all know (the brief's query), should one of the fields above be refused
SMI_FALLBACK = ("uuid", "driver_version", "clocks.sm", "clocks.mem", "clocks.max.sm", "power.draw")


def parse_nvidia_smi(text: str, fields: tuple[str, ...] | list[str]) -> list[dict[str, Any]]:
    """Rows of `nvidia-smi --query-gpu=FIELDS --format=csv,noheader,nounits` as dicts of report keys; numbers
    as numbers, "[N/A]" / "[Not Supported]" as None."""
    rows = []
    for line in text.strip().splitlines():
        values = [v.strip() for v in line.split(",")]
        if len(values) != len(fields):
            continue
        row: dict[str, Any] = {}
        for f, v in zip(fields, values, strict=True):
            if not v or v.startswith("[") or v.upper() in ("N/A", "NOT SUPPORTED"):
                row[SMI_FIELDS[f]] = None
                continue
            try:
                row[SMI_FIELDS[f]] = float(v) if f in ("power.draw", "power.limit") else int(v)
            except ValueError:
                row[SMI_FIELDS[f]] = v
        rows.append(row)
    return rows


def nvidia_smi(uuid: str | None = None) -> dict[str, Any] | None:
    """Driver, clocks, power and memory of one GPU from nvidia-smi (the one with this CUDA uuid; else the only one);
    None without nvidia-smi, when it fails, or when the GPU cannot be told apart."""
    for fields in (tuple(SMI_FIELDS), SMI_FALLBACK):
        try:
            proc = subprocess.run(["nvidia-smi", f"--query-gpu={','.join(fields)}", "--format=csv,noheader,nounits"],
                                  capture_output=True, text=True, timeout=10)
        except (OSError, subprocess.SubprocessError):
            return None
        if proc.returncode == 0:
            break
    else:
        return None
    rows = parse_nvidia_smi(proc.stdout, fields)
    if uuid:
        match = [r for r in rows if str(r.get("uuid") or "").removeprefix("GPU-") == uuid.removeprefix("GPU-")]
        if match:
            return match[0]
    return rows[0] if len(rows) == 1 else None


def gpu_state(uuid: str | None) -> dict[str, Any] | None:
    """Clocks, power, temperature and memory right now (read right after a timed loop, while the clocks are up)."""
    smi = nvidia_smi(uuid)
    if smi is None:
        return None
    keys = ("pstate", "clocks_sm_mhz", "clocks_mem_mhz", "power_draw_w", "temperature_c", "memory_used_mib")
    return {k: smi.get(k) for k in keys}


def cuda_uuid(index: int) -> str | None:
    import torch

    uuid = getattr(torch.cuda.get_device_properties(index), "uuid", None)
    return str(uuid) if uuid is not None else None


def child_device(job: BenchJob) -> dict[str, Any]:
    """The GPU a CUDA device name means (`cuda:N`; GPU 0 for auto or cpu): what torch and nvidia-smi say of it."""
    import torch

    if not torch.cuda.is_available():
        return {"gpu": None}
    name = job.device or "auto"
    index = (torch.device(name).index or 0) if name.startswith("cuda") else 0
    p = torch.cuda.get_device_properties(index)
    free, total = torch.cuda.mem_get_info(index)
    cudnn = torch.backends.cudnn.version() if torch.backends.cudnn.is_available() else None
    gpu: dict[str, Any] = {
        "index": index, "name": p.name, "memory_gib": round(p.total_memory / 2**30, 2),
        "memory_free_gib": round(free / 2**30, 2), "capability": f"{p.major}.{p.minor}",
        "multiprocessors": p.multi_processor_count, "cuda": torch.version.cuda, "cudnn": cudnn,
        "count": torch.cuda.device_count(), "uuid": cuda_uuid(index),
    }
    smi = nvidia_smi(gpu["uuid"])
    gpu["driver"] = smi.get("driver") if smi else None
    gpu["nvidia_smi"] = smi  # clocks (now and max), power, temperature, memory; None without nvidia-smi
    return {"gpu": gpu}
