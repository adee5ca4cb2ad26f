#!/usr/bin/env python3
"""Entry point: `python run_pipeline.py COMMAND ...` is the same CLI as the `vsr` console script."""

from pipelines.entry import entry  # first of all: it holds the stop signals before anything else loads

if __name__ == "__main__":
    raise SystemExit(entry())
