"""``ldarnet demo``: print where a model puts its token boundaries on a real promoter.

By default it reads the bundled Arabidopsis slice (``data/``), takes the promoter of the first
plus-strand transcript (250 bp upstream of its TSS to 50 bp downstream) and runs the shipped
pretrained checkpoint. A missing or unloadable checkpoint is an error; ``--checkpoint untrained``
asks for a randomly initialised ``ldarnet-proxy`` on purpose (an untrained router's boundaries
mean nothing, and the output says so).
"""

from __future__ import annotations

import argparse
from pathlib import Path

from .. import DEFAULT_CHECKPOINT, UNTRAINED

REPO = Path(__file__).resolve().parents[2]
DEFAULT_FASTA = REPO / "data" / "athal_chr1_1000000_1200000.fa"
DEFAULT_GFF = REPO / "data" / "athal_chr1_1000000_1200000.gff3"


def register(subparsers) -> None:
    p = subparsers.add_parser("demo",
                              description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--checkpoint", default=None, help=f"model folder (default: {DEFAULT_CHECKPOINT.relative_to(REPO)}), "
                   f"or '{UNTRAINED}' for random weights")
    p.add_argument("--fasta", default=str(DEFAULT_FASTA), help="FASTA to read the sequence from")
    p.add_argument("--annotation", default=str(DEFAULT_GFF), help="GFF3/GTF used to find a TSS")
    p.add_argument("--region", default=None, help="RECORD:START-END (0-based, half-open) instead of a promoter")
    p.add_argument("--sequence", default=None, help="a sequence to use instead of the FASTA")
    p.add_argument("--seed", type=int, default=0, help=f"seed of the random weights of --checkpoint {UNTRAINED}")
    p.add_argument("--width", type=int, default=80, help="characters per printed line")
    p.set_defaults(func=run)


def parse_region(text: str) -> tuple[str, int, int]:
    try:
        record, span = text.rsplit(":", 1)
        start, end = (int(v.replace(",", "")) for v in span.split("-"))
    except ValueError:
        raise ValueError(f"--region {text!r}: expected RECORD:START-END") from None
    if not 0 <= start < end:
        raise ValueError(f"--region {text!r}: need 0 <= START < END")
    return record, start, end


def format_chunks(sequence: str, boundary: list[bool], width: int) -> str:
    """The sequence with a '|' before every chunk after the first, wrapped at ``width`` characters."""
    text = "".join(("|" if b and i else "") + base for i, (base, b) in enumerate(zip(sequence, boundary)))
    return "\n".join(text[i:i + width] for i in range(0, len(text), width))


def run(args) -> int:
    import torch

    from .. import LDARNet, LDARNetConfig, batch_encode
    from ..genome import first_promoter, open_fasta

    if args.checkpoint == UNTRAINED:
        torch.manual_seed(args.seed)
        model = LDARNet(LDARNetConfig.preset("ldarnet-proxy")).eval()
        source = f"UNTRAINED ldarnet-proxy (seed {args.seed}): random weights, its boundaries mean nothing"
    else:
        path = Path(args.checkpoint) if args.checkpoint else DEFAULT_CHECKPOINT
        model, source = LDARNet.from_pretrained(path).eval(), str(path)
    if args.sequence:
        label, sequence = "given sequence", args.sequence
    else:
        if args.region:
            record, start, end = parse_region(args.region)
            label = f"{record}:{start}-{end}"
        else:
            record, start, end, tx = first_promoter(args.annotation)
            label = f"{record}:{start}-{end} (promoter of {tx}: TSS at {start + 250}, on +)"
        fasta = open_fasta(args.fasta)
        if record not in fasta.keys():
            raise ValueError(f"{args.fasta}: no record {record!r}")
        if end > len(fasta[record]):
            raise ValueError(f"{args.fasta}: {record} has {len(fasta[record])} bp, region ends at {end}")
        sequence = fasta[record][start:end].seq
    ids, mask = batch_encode([sequence])
    with torch.no_grad():
        stage = model.extract_boundaries(ids, mask)[0]
    boundary = stage.boundary_mask[0].tolist()
    starts = [i for i, b in enumerate(boundary) if b]
    print(f"model:    {source}")
    print(f"sequence: {label}, {len(sequence)} bp")
    print(f"chunks:   {len(starts)} (mean length {len(sequence) / len(starts):.2f} bp; "
          f"target ratio {model.config.target_ratio[0]:g})")
    print(f"boundary positions (0-based): {starts}")
    print(format_chunks(sequence.upper(), boundary, args.width))
    return 0
