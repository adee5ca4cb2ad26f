"""`python -m pipelines.bench KIND`: one measurement in this process (the parent starts it through `spawn.child`);
the job as JSON on stdin, the result as one JSON line on stdout."""

from __future__ import annotations

import json
import sys

from pipelines.bench.config import BenchJob
from pipelines.bench.io_only import child_io
from pipelines.bench.machine import child_device
from pipelines.bench.model_only import child_best_batch, child_model_only
from pipelines.bench.naive import child_naive
from pipelines.bench.pipeline import child_pipeline
from vsr.settings import build_settings

CHILDREN = {"model_only": child_model_only, "pipeline": child_pipeline, "naive": child_naive, "io": child_io,
            "best_batch": child_best_batch, "device": child_device}


def _child_main(argv: list[str]) -> int:
    kind = argv[0]
    job = build_settings(BenchJob, json.loads(sys.stdin.read()))
    result = CHILDREN[kind](job)
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(_child_main(sys.argv[1:]))
