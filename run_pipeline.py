#!/usr/bin/env python3
"""Entry point: `python run_pipeline.py COMMAND ...` is the same CLI as the `vsr` console script."""

import sys

from pipelines.cli import main

if __name__ == "__main__":
    sys.exit(main())
