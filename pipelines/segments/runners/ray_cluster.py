"""What a segmented run needs to know of a Ray cluster: what each segment task asks for, which nodes can run it,
and whether those nodes see the input and the work directory at the driver's paths.

The access check runs one tiny task pinned to each node that can take segments, before any segment starts: a node
that cannot read an input or write a work directory, or whose writes do not reach the driver (no shared file
system), is a one-line error naming it, instead of segments that fail (or vanish) one retry after another.
"""

from __future__ import annotations

import secrets
import socket
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from vsr.errors import ConfigError, InputError
from vsr.fs import write_text_atomic

ACCESS_CHECK_TIMEOUT_S = 60.0
_MARK = ".access-check"  # + "-driver" or "-<node id>": the check's files in a work directory, removed after it


@dataclass(frozen=True)
class TaskResources:
    """What one segment task asks Ray for: a CPU for decode/encode, and a GPU (or a share of one) on GPU runs."""

    num_cpus: float
    num_gpus: float

    def options(self) -> dict[str, float]:
        return {"num_cpus": self.num_cpus, "num_gpus": self.num_gpus}

    def per_node(self, resources: dict[str, float]) -> int:
        """How many segments a node with these resources runs at once."""
        fits = [resources.get("CPU", 0.0) // self.num_cpus] if self.num_cpus else []
        if self.num_gpus:
            fits.append(resources.get("GPU", 0.0) // self.num_gpus)
        return int(min(fits)) if fits else 0

    def describe(self) -> str:
        return f"{self.num_gpus:g} GPU + {self.num_cpus:g} CPU" if self.num_gpus else f"{self.num_cpus:g} CPU"


def task_resources(cluster: dict[str, float], device: str, gpus_per_segment: float) -> TaskResources:
    """GPU tasks where the cluster has GPUs and the device allows them (so CPU-only nodes never get one), CPU tasks
    otherwise; `--device cpu` keeps a GPU cluster's segments on CPUs."""
    gpus = cluster.get("GPU", 0.0)
    if device.startswith("cuda") and gpus == 0:
        raise ConfigError("the Ray cluster has no GPUs", setting="device", value=device,
                          hint="use --device auto or cpu, or add GPU nodes to the cluster")
    if device == "cpu" or gpus == 0:
        return TaskResources(num_cpus=1.0, num_gpus=0.0)
    return TaskResources(num_cpus=1.0, num_gpus=gpus_per_segment)


@dataclass
class Node:
    node_id: str
    address: str  # the node's IP
    hostname: str
    resources: dict[str, float]

    def describe(self) -> str:
        return f"node {self.address} ({self.hostname}, id {self.node_id[:12]})"


def segment_nodes(nodes: list[dict[str, Any]], res: TaskResources) -> list[Node]:
    """The alive nodes of `ray.nodes()` that can run at least one segment task."""
    out = []
    for n in nodes:
        node = Node(n["NodeID"], n.get("NodeManagerAddress", "?"), n.get("NodeManagerHostname", "?"),
                    dict(n.get("Resources", {})))
        if n.get("Alive") and res.per_node(node.resources) > 0:
            out.append(node)
    return out


@dataclass
class AccessAnswer:
    """What one node found: its own problems, and the work directories where it did not see the driver's mark."""

    node_id: str
    problems: list[str] = field(default_factory=list)
    unseen: list[str] = field(default_factory=list)


def _check_on_node(dirs: list[str], inputs: list[str], token: str) -> AccessAnswer:
    """The body of the access-check task, on the node it is pinned to."""
    import ray

    answer = AccessAnswer(ray.get_runtime_context().get_node_id())
    for f in inputs:
        try:
            with open(f, "rb") as fh:
                fh.read(1)
        except OSError as exc:
            answer.problems.append(f"cannot read the input {f} ({exc.strerror or exc})")
    for d in dirs:
        try:
            if (Path(d) / f"{_MARK}-driver").read_text() != token:
                answer.unseen.append(d)
        except OSError:
            answer.unseen.append(d)
        try:
            write_text_atomic(Path(d) / f"{_MARK}-{answer.node_id}", token)
        except OSError as exc:
            answer.problems.append(f"cannot write the work directory {d} ({exc.strerror or exc})")
    return answer


def check_node_access(ray: Any, nodes: list[Node], work_dirs: list[Path], inputs: list[Path]) -> None:
    """Raises a one-line error naming the first node that cannot read an input or share a work directory with
    the driver (`work_dirs` empty: segments come back through the object store, only the inputs matter)."""
    from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

    token = f"{socket.gethostname()}-{secrets.token_hex(8)}"
    for d in work_dirs:
        write_text_atomic(d / f"{_MARK}-driver", token)
    task = ray.remote(num_cpus=0, max_retries=0)(_check_on_node)
    refs = {task.options(scheduling_strategy=NodeAffinitySchedulingStrategy(n.node_id, soft=False)).remote(
        [str(d) for d in work_dirs], [str(f) for f in inputs], token): n for n in nodes}
    try:
        ready, late = ray.wait(list(refs), num_returns=len(refs), timeout=ACCESS_CHECK_TIMEOUT_S)
        for ref in late:  # only those: cancelling a finished task can crash Ray's task manager
            ray.cancel(ref, force=True)
        if late:
            raise InputError(f"{refs[late[0]].describe()} did not answer the file access check within "
                             f"{ACCESS_CHECK_TIMEOUT_S:.0f} s", hint="is the node overloaded or unreachable?")
        for ref in ready:
            _raise_for(refs[ref], ray.get(ref), work_dirs, token)
    finally:
        for d in work_dirs:
            for mark in d.glob(f"{_MARK}-*"):
                mark.unlink(missing_ok=True)


def _raise_for(node: Node, answer: AccessAnswer, work_dirs: list[Path], token: str) -> None:
    hint = ("the input and the work directory must be on a file system that every node mounts at the same path; "
            "or join with --ray-address and leave out --work-dir to return segments through Ray's object store")
    if answer.problems:
        raise InputError(f"{node.describe()} {answer.problems[0]}", hint=hint)
    for d in work_dirs:
        mark = d / f"{_MARK}-{answer.node_id}"
        try:
            seen = mark.read_text() == token
        except OSError:
            seen = False
        if str(d) in answer.unseen or not seen:
            raise InputError(f"{node.describe()} does not share the work directory {d} with the driver "
                             "(its files and the driver's do not reach each other)", hint=hint)
