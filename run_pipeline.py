#!/usr/bin/env python3
"""Entry point: `python run_pipeline.py COMMAND ...` is the same CLI as the `vsr` console script."""

import sys

from pipelines.cli import entry

if __name__ == "__main__":
    sys.exit(entry())
