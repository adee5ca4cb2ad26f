"""The report for people: the text table (and each configuration's progress line), the FPS plot."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pipelines.bench.results import BenchReport, BenchRow
from vsr.fs import atomic_path


def _fmt(v: float | None, spec: str = ".2f") -> str:
    return "-" if v is None else format(v, spec)


def row(r: BenchRow) -> str:
    mo, ratios = r.model_only, r.ratios
    return (f"{r.model:<18} {r.input_size[0]:>4}x{r.input_size[1]:<4} b{r.batch:<3} {r.precision:<5}"
            f" model {_fmt(r.model_only_fps):>7} fps (p50 {mo['ms_per_frame_p50']:.1f} ms,"
            f" p95 {mo['ms_per_frame_p95']:.1f} ms)  plain {_fmt(r.plain_model_fps):>6}"
            f"  pipeline {_fmt(r.pipeline_fps):>6}  I/O only {_fmt(r.io_only_fps):>6}"
            f"  bound {_fmt(r.bound_fps):>6}  naive {_fmt(r.naive_fps):>6}"
            f"  opt/plain {_fmt(ratios.optimised_over_plain)}  pipe/model {_fmt(ratios.pipeline_over_model_only)}"
            f"  pipe/naive {_fmt(ratios.pipeline_over_naive)}  efficiency {_fmt(r.pipeline_efficiency)}")


def format_table(report: BenchReport) -> str:
    m = report.machine
    lines = [f"machine: {m['cpu']} ({m['cpu_affinity']} cores usable; {' '.join(m['cpu_flags'])}), "
             f"GPU {_gpu_line(m['gpu'])}, torch {m['torch']}, PyAV {m['pyav']}"]
    head = (f"{'model':<18} {'input':>9} {'batch':>5} {'prec':<5} {'model fps':>9} {'(min-max)':>13} {'p50 ms':>8} "
            f"{'p95 ms':>8} {'peak MiB':>8} {'plain fps':>9} {'pipe fps':>8} {'I/O fps':>8} {'bound fps':>9} "
            f"{'naive fps':>9} {'opt/plain':>9} {'pipe/model':>10} {'pipe/naive':>10} {'efficiency':>10}")
    lines += [head, "-" * len(head)]
    for r in report.results:
        mo, ra = r.model_only, r.ratios
        label = r.model + ("*" if r.random_weights else "")
        lines.append(
            f"{label:<18} {r.input_size[0]:>4}x{r.input_size[1]:<4} {r.batch:>5} {r.precision:<5} "
            f"{r.model_only_fps:>9.3f} {mo['fps_min']:>6.2f}-{mo['fps_max']:<6.2f} {mo['ms_per_frame_p50']:>8.1f} "
            f"{mo['ms_per_frame_p95']:>8.1f} {_fmt(mo['peak_mem_mib'], '.0f'):>8} "
            f"{_fmt(r.plain_model_fps, '.3f'):>9} {_fmt(r.pipeline_fps, '.3f'):>8} "
            f"{_fmt(r.io_only_fps, '.3f'):>8} {_fmt(r.bound_fps, '.3f'):>9} "
            f"{_fmt(r.naive_fps, '.3f'):>9} {_fmt(ra.optimised_over_plain):>9} "
            f"{_fmt(ra.pipeline_over_model_only):>10} {_fmt(ra.pipeline_over_naive):>10} "
            f"{_fmt(r.pipeline_efficiency):>10}")
    if any(r.bound_fps is not None for r in report.results):
        lines.append("bound: the most the pipeline can reach from model-only and I/O-only alone: CPU 1/(1/model + "
                     "1/io) (shared cores), CUDA min(model, io); efficiency = pipeline / bound")
    if any(r.random_weights for r in report.results):
        lines.append("* random weights of the right architecture (checkpoint not cached; speed does not depend on it)")
    for s in report.scaling:
        lines.append(f"per-pixel speed {s.model} {s.input_size[0]}x{s.input_size[1]} vs "
                     f"{s.reference_size[0]}x{s.reference_size[1]}: {_fmt(s.per_pixel_speed_ratio)}x")
    for r in report.results:
        for name, part in (("pipeline", r.pipeline), ("I/O only", r.io_only), ("naive", r.naive)):
            if part and part.get("stages"):
                stages = ", ".join(f"{k} busy {v['busy_s']:.2f}s wait {v['wait_s']:.2f}s"
                                   for k, v in part["stages"].items())
                lines.append(f"{name} {r.model} {r.input_size[0]}x{r.input_size[1]}: {stages}")
        mo = r.model_only
        if mo.get("gpu_compute_ms_per_frame") is not None:
            lines.append(f"cuda {r.model} {r.input_size[0]}x{r.input_size[1]} b{r.batch}: per frame "
                         f"H2D {mo['h2d_ms_per_frame']:.3f} ms, compute {mo['gpu_compute_ms_per_frame']:.3f} ms, "
                         f"D2H {mo['d2h_ms_per_frame']:.3f} ms" + _clocks(mo.get("gpu_state")))
    lines += [f"notice: {n}" for n in report.notices]
    return "\n".join(lines)


def _gpu_line(gpu: dict[str, Any] | None) -> str:
    if not gpu:
        return "none"
    if "name" not in gpu:
        return f"? ({gpu.get('error', 'not queried')})"
    smi = gpu.get("nvidia_smi") or {}
    parts = [f"driver {gpu.get('driver') or '?'}", f"CUDA {gpu.get('cuda') or '?'}", f"cuDNN {gpu.get('cudnn') or '?'}",
             f"{gpu['memory_gib']} GiB"]
    if smi.get("clocks_max_sm_mhz"):
        parts.append(f"max SM {smi['clocks_max_sm_mhz']} MHz")
    return f"{gpu['name']} ({', '.join(parts)})"


def _clocks(states: list[dict[str, Any] | None] | None) -> str:
    """The SM/memory clocks and power read after each round's timed loop, for the table."""
    states = [s for s in states or [] if s]
    if not states:
        return ""
    def v(x: Any) -> str:
        return "?" if x is None else str(x)

    return "; after timing: " + ", ".join(f"SM {v(s.get('clocks_sm_mhz'))} / mem {v(s.get('clocks_mem_mhz'))} MHz"
                                           f" {v(s.get('power_draw_w'))} W" for s in states)


def plot(report: BenchReport, path: str) -> str | None:
    """FPS against input pixels per model; returns a notice instead when matplotlib is not installed."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return "matplotlib is not installed (pip install .[plot]): no plot written"
    fig, ax = plt.subplots(figsize=(7, 4.5))
    series: dict[str, list[tuple[int, float, float | None]]] = {}
    for r in report.results:
        key = f"{r.model} b{r.batch} {r.precision}"
        series.setdefault(key, []).append((r.input_size[0] * r.input_size[1], r.model_only_fps,
                                           r.plain_model_fps))
    for key, pts in series.items():
        pts.sort()
        ax.plot([p[0] / 1e3 for p in pts], [p[1] for p in pts], marker="o", label=f"{key} optimised")
        if all(p[2] for p in pts):
            ax.plot([p[0] / 1e3 for p in pts], [p[2] for p in pts], marker="x", linestyle="--", label=f"{key} plain")
    ax.set_xlabel("input kilopixels per frame")
    ax.set_ylabel("frames/s (model only)")
    ax.set_yscale("log")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=7)
    ax.set_title(report.machine["gpu"]["name"] if report.machine["gpu"] else report.machine["cpu"])
    fig.tight_layout()
    with atomic_path(path) as temp:
        fig.savefig(temp, dpi=120, format=Path(path).suffix.lstrip(".") or "png")
    plt.close(fig)
    return None
