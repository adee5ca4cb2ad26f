"""Process-level CPU settings that make the model faster but must be in place before the process starts.

Two settings, both read once when the process (or the OpenMP runtime) starts:

glibc returns large freed blocks (the model's activation buffers, tens of MB each) to the OS and page-faults them
back in on the next frame; at 640x360 that was about a third of a forward pass (see docs/bench.md). Raising the mmap
and trim thresholds keeps those buffers in the heap. glibc reads GLIBC_TUNABLES once, at start-up, so a process
can only get it by being started (or re-executing itself) with it set.

OMP_WAIT_POLICY=PASSIVE: OpenMP threads sleep at the end of a parallel region instead of spinning. When the cores
are shared (decode and encode threads of the pipeline, other processes) a spinning thread burns the core that the
thread it waits for needs: measured here with 2 threads on a loaded 2-core machine, the same forward pass took
0.7 CPU-s per frame passive against 2.4 CPU-s spinning, and 3-4x less wall time. A user's own value is kept.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping

# mmap_threshold: allocations below 32 MiB come from the heap (reused), not fresh mmaps;
# trim_threshold: do not give the heap's top back to the OS until 1 GiB is free there;
# hugetlb=1: transparent huge pages for the heap (fewer, cheaper faults where the kernel allows it).
MALLOC_TUNABLES = "glibc.malloc.hugetlb=1:glibc.malloc.mmap_threshold=33554432:glibc.malloc.trim_threshold=1073741824"
_KEYS = {t.split("=", 1)[0] for t in MALLOC_TUNABLES.split(":")}
OMP_WAIT_POLICY = "PASSIVE"
# Set in a re-executed process, so that it never re-executes again.
REEXEC_MARK = "VSR_MALLOC_TUNED"


def _merge(current: str, extra: str) -> str:
    items = [t for t in current.split(":") if t and t.split("=", 1)[0] not in _KEYS]
    return ":".join(items + ([extra] if extra else []))


def with_malloc_tunables(env: Mapping[str, str]) -> dict[str, str]:
    """A copy of `env` with the malloc settings in GLIBC_TUNABLES (other tunables kept) and OMP_WAIT_POLICY."""
    out = dict(env)
    out["GLIBC_TUNABLES"] = _merge(out.get("GLIBC_TUNABLES", ""), MALLOC_TUNABLES)
    out.setdefault("OMP_WAIT_POLICY", OMP_WAIT_POLICY)
    return out


def without_malloc_tunables(env: Mapping[str, str]) -> dict[str, str]:
    """A copy of `env` without our settings (for baselines measured as a plain program runs)."""
    out = dict(env)
    rest = _merge(out.pop("GLIBC_TUNABLES", ""), "")
    if rest:
        out["GLIBC_TUNABLES"] = rest
    if out.get("OMP_WAIT_POLICY") == OMP_WAIT_POLICY:
        out.pop("OMP_WAIT_POLICY")
    out.pop(REEXEC_MARK, None)
    return out


def malloc_tuned() -> bool:
    """True when this process was started with the malloc settings."""
    current = set(os.environ.get("GLIBC_TUNABLES", "").split(":"))
    return set(MALLOC_TUNABLES.split(":")) <= current


def reexec_with_malloc_tunables() -> None:
    """Re-execute this interpreter with the malloc settings, once; returns only when that is not needed/possible.

    Meant for the CLI entry point (before anything heavy is imported); VSR_NO_MALLOC_TUNING=1 turns it off.
    """
    if malloc_tuned() or os.environ.get(REEXEC_MARK) or os.environ.get("VSR_NO_MALLOC_TUNING"):
        return
    if not sys.platform.startswith("linux"):
        return
    env = with_malloc_tunables(os.environ)
    env[REEXEC_MARK] = "1"
    try:
        os.execve(sys.executable, [sys.executable, *sys.orig_argv[1:]], env)
    except OSError:
        return  # keep running untuned: slower, never wrong
