"""The `vsr` command line (also `python run_pipeline.py`): one sub-command per job."""

from __future__ import annotations

import argparse
import importlib
import sys

from vsr.errors import VSRError

# Sub-command modules under pipelines.commands, in the order `--help` lists them.
COMMANDS = ["models", "upscale", "demo", "image", "evaluate", "live", "train", "cost", "bench", "export"]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="vsr", description="SAFMN video super-resolution")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name in COMMANDS:
        importlib.import_module(f"pipelines.commands.{name}").register(sub)
    return parser


def flag_names(parser: argparse.ArgumentParser) -> dict[str, str]:
    """Each setting (an option's `dest`) as the flag the user types, for errors that name a setting."""
    names: dict[str, str] = {}
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for sub in action.choices.values():
                names.update(flag_names(sub))
        elif action.option_strings:
            names.setdefault(action.dest, max(action.option_strings, key=len))
    return names


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except VSRError as exc:
        print(f"error: {exc.render(flag_names(parser))}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


def entry() -> int:
    """The program's entry point: first re-executes once with the CPU allocator and OpenMP settings that must be
    in place before the process starts (1.5x and more on CPU, see vsr/engine/perf.py; VSR_NO_MALLOC_TUNING=1
    turns it off), then runs `main`. `main` itself never re-executes, so it is safe to call in-process."""
    from vsr.engine.perf import reexec_with_malloc_tunables

    reexec_with_malloc_tunables()
    return main()


if __name__ == "__main__":
    sys.exit(entry())
