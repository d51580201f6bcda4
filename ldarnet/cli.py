"""The ``ldarnet`` command line: a thin dispatcher over :mod:`ldarnet.commands`.

Each subcommand lives in its own module ``ldarnet.commands.<name>``, which exposes
``register(subparsers)`` (adds its parser and sets ``func``) and ``run(args)``. Only the chosen
subcommand's module is imported, and those modules import torch inside ``run``, so
``ldarnet --help`` starts no heavy import. User mistakes (bad files, bad options) end in one
``error:`` line and exit code 2; set ``LDARNET_DEBUG=1`` to see the traceback instead.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys

# (name, module, one-line help), in the order `ldarnet --help` lists them
COMMANDS = (
    ("demo", "ldarnet.commands.demo", "print the boundaries a model puts on a real promoter"),
    ("pretrain", "ldarnet.commands.pretrain", "pretrain an LDARNet (MLM + ratio loss) on FASTA files"),
    ("finetune", "ldarnet.commands.finetune", "cross-validated fine-tuning on a labeled CSV or per-class FASTAs"),
    ("make-task", "ldarnet.commands.make_task", "build a labeled promoter or splice-site CSV from a FASTA + GFF3/GTF"),
    ("ablate", "ldarnet.commands.ablate", "pretrain one-factor variants of a config and fine-tune each"),
    ("boundaries", "ldarnet.commands.boundaries", "per-base boundary probabilities (bedGraph) and chunks (BED) over a FASTA"),
    ("import-public", "ldarnet.commands.import_public",
     "convert a public LDARNet .pt checkpoint (e.g. model_ckpt_110m.pt) into an LDARNet checkpoint folder"),
)


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    """The parser; only ``command``'s module is imported (all of them when ``command`` is ``"*"``)."""
    parser = argparse.ArgumentParser(prog="ldarnet", description="LDARNet: a DNA language model with learned token boundaries.")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name, module, text in COMMANDS:
        if command in (name, "*"):
            importlib.import_module(module).register(sub)
        else:  # listed with its help, parsed only when chosen
            sub.add_parser(name, help=text, add_help=False)
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    chosen = next((word for word in argv if not word.startswith("-")), None)
    args = build_parser(chosen).parse_args(argv)
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
