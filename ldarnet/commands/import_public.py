"""``ldarnet import-public``: convert a checkpoint of the public LDARNet code into an LDARNet checkpoint."""

from __future__ import annotations

import argparse
import json
from pathlib import Path


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "import-public",
        help="convert a public LDARNet .pt checkpoint (e.g. model_ckpt_110m.pt) into an LDARNet checkpoint folder",
        description=(
            "Read SRC with torch.load(weights_only=True) only (a file needing arbitrary Python objects is refused), "
            "translate its config, map every tensor by name and shape (no tensor may be left over on either side) and "
            "write OUT_DIR/model.safetensors, config.json and import.json (source name, sha256, training step, mapping "
            "version). The folder can then be used anywhere a --checkpoint is asked for."
        ),
    )
    parser.add_argument("src", metavar="SRC.pt", help="checkpoint written by the public code's save_ckpt")
    parser.add_argument("out_dir", metavar="OUT_DIR", help="new (or empty) folder for the LDARNet checkpoint")
    parser.add_argument("--overwrite", action="store_true", help="replace OUT_DIR if it already holds files")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ..public_checkpoint import IMPORT_NAME, import_public

    out = import_public(args.src, args.out_dir, overwrite=args.overwrite)
    record = json.loads((Path(out) / IMPORT_NAME).read_text())
    config = json.loads((Path(out) / "config.json").read_text())
    print(f"imported {record['source']} (step {record['source_step']}, sha256 {record['source_sha256'][:12]}…) -> {out}: "
          f"layout {config['arch_layout']}, d_model {config['d_model']}")
    return 0
