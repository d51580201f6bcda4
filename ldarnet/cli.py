"""The ``ldarnet`` command line.

Each subcommand lives in its own module, which exposes ``register(subparsers)`` adding its
parser and setting ``func``. User mistakes (bad files, bad options) end in one ``error:`` line and
exit code 2; set ``LDARNET_DEBUG=1`` to see the traceback instead.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys

# subcommand modules, in the order `ldarnet --help` lists them
COMMAND_MODULES = (
    "ldarnet.commands.demo",
    "ldarnet.training.cli",
    "ldarnet.finetune.cli",
    "ldarnet.ablate",
    "ldarnet.commands.boundaries",
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="ldarnet", description="LDARNet: a DNA language model with learned token boundaries.")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name in COMMAND_MODULES:
        importlib.import_module(name).register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except (ValueError, OSError) as err:
        if os.environ.get("LDARNET_DEBUG"):
            raise
        print(f"error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
