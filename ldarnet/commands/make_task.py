"""``ldarnet make-task``: a labeled promoter or splice-site CSV from a FASTA + GFF3/GTF (:mod:`ldarnet.finetune.tasks`)."""

from __future__ import annotations

import argparse
import sys


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "make-task",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description="""\
Write a labeled CSV (sequence,label,seq_id,start,end,strand,kind) for fine-tuning:
  promoter  windows centred on every distinct TSS (label 1) vs random windows at least
            --min-distance bp from any TSS (label 0);
  donor     windows centred on every annotated exon-intron junction (the G of GT at index W/2)
            vs GC-matched decoy GT windows that are no annotated donor (label 0);
  acceptor  the same for intron-exon junctions (AG just before index W/2) vs AG decoys.
Windows are read 5'->3' on their strand and upper-cased; start/end are 0-based half-open forward
coordinates. Annotations without UTRs put the TSS at the start codon.""")
    p.add_argument("task", choices=("promoter", "donor", "acceptor"))
    p.add_argument("--fasta", required=True, help="genome FASTA (plain, bgzip or plain gzip)")
    p.add_argument("--annotation", required=True, help="GFF3 or GTF whose record names match the FASTA")
    p.add_argument("--out", required=True, metavar="CSV", help="the CSV to write (atomically)")
    p.add_argument("--window", type=int, help="window length in bp (default: 300 promoter, 400 splice)")
    p.add_argument("--negatives-per-positive", type=float, default=1.0,
                   help="random windows or decoys per positive (default: 1)")
    p.add_argument("--min-distance", type=int,
                   help="bp between a negative and any true site (default: 2000 promoter, 50 splice)")
    p.add_argument("--gc-bin-width", type=float, default=0.05, help="GC bins for decoy matching (default: 0.05)")
    p.add_argument("--max-n-fraction", type=float, default=0.01, help="skip windows with more N (default: 0.01)")
    p.add_argument("--skip-outside", action="store_true",
                   help="skip annotation features whose record is missing from the FASTA or that run past its end "
                        "(and print how many); without it such a feature is an error naming its line")
    p.add_argument("--seed", type=int, default=0)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ..finetune import build_task

    options = {"max_n_fraction": args.max_n_fraction, "seed": args.seed, "skip_outside": args.skip_outside}
    if args.window is not None:
        options["window"] = args.window
    if args.min_distance is not None:
        options["min_distance"] = args.min_distance
    if args.task == "promoter":
        options["negatives_per_positive"] = args.negatives_per_positive
    else:
        options.update(decoys_per_site=args.negatives_per_positive, gc_bin_width=args.gc_bin_width)
    table = build_task(args.task, args.fasta, args.annotation, args.out, **options)
    if args.skip_outside:
        print(f"skipped {table.attrs.get('skipped_outside', 0)} annotation feature(s) outside the FASTA records",
              file=sys.stderr)
    counts = table["label"].value_counts().to_dict()
    print(f"wrote {args.out}: {counts.get(1, 0)} positive and {counts.get(0, 0)} negative windows of "
          f"{len(table['sequence'].iloc[0])} bp", file=sys.stderr)
    return 0


