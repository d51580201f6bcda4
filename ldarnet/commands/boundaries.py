"""``ldarnet boundaries``: per-base boundary probabilities (bedGraph) and chunks (BED) over a FASTA.

The tiling, stitching and writers are in :mod:`ldarnet.genome`; this module parses arguments,
loads the checkpoint and records what was run.
"""

from __future__ import annotations

import argparse
import signal
from pathlib import Path


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "boundaries",
        
        description=(
            "Run a checkpoint's embedding, encoder and router (never the backbone or decoder) over every record of a "
            "FASTA, or over the regions of a BED file, in overlapping windows stitched so that each base is read from a "
            "window where it is away from the edges. Writes PREFIX.bedgraph (boundary probability, float16, runs of "
            "equal values merged), PREFIX.chunks.bed (a chunk starts at every base the model marks as a boundary and at "
            "every record or region start) and PREFIX.json (parameters and input hashes). Coordinates are 0-based, "
            "half-open; every base of every record or region is covered exactly once."
        ),
    )
    parser.add_argument("--checkpoint", required=True, metavar="DIR", help="folder with model.safetensors and config.json")
    parser.add_argument("--fasta", required=True, metavar="FILE",
                        help="FASTA file: plain, bgzip, or plain gzip (decompressed once into a cache); indexed on first use")
    parser.add_argument("--bed", metavar="REGIONS", help="BED file of regions to extract instead of whole records; regions must not overlap")
    parser.add_argument("--out", required=True, metavar="PREFIX", help="output prefix, e.g. out/chr1 (folders are created)")
    parser.add_argument("--overlap", type=int, help="minimum overlap of neighbouring windows; each base is read at least overlap/2 "
                        "from a window edge (default: twice the outer attention's reach plus the router's centring span, "
                        "3072 for the shipped ldarnet-proxy-multispecies)")
    parser.add_argument("--window", type=int, help="window length in bases (default: 16 x overlap, at least 4096)")
    parser.add_argument("--batch-size", type=int, help="windows per model call (default: about 8192 bases per call)")
    parser.add_argument("--device", default="cpu", help="torch device, e.g. cpu or cuda (default cpu)")
    parser.add_argument("--threads", type=int, help="CPU threads for torch (default: torch's choice, all cores); "
                        "on a machine shared with other jobs, 1 thread per free core wastes less time waiting")
    parser.add_argument("--format", choices=["bedgraph", "bigwig"], default="bedgraph",
                        help="per-base track format: bedgraph (PREFIX.bedgraph, text; default) or bigwig (PREFIX.bw, "
                        "pyBigWig, float32, indexed for genome browsers; the bedGraph is converted and removed)")
    parser.add_argument("--precision", choices=["fp32", "bf16"], default="fp32",
                        help="bf16: autocast the embedding and encoder (the router's cosine and decisions stay fp32); "
                        "pays on CPUs with native bf16 (AMX/avx512_bf16) and on GPUs")
    parser.add_argument("--store", action="store_true", help="also write PREFIX.store.npz, the compressed float16 track store "
                        "notebooks read regions from (ldarnet.genome.TrackStore)")
    parser.add_argument("--part-bp", type=int, default=1_000_000, help="bases per part: the unit of sharding under torchrun "
                        "and of resuming after a kill (finished parts are kept in PREFIX.parts/ until the merge)")
    parser.add_argument("--no-progress", action="store_true", help="do not show the progress bar")
    parser.set_defaults(func=run)


def _terminate(signum, frame) -> None:
    raise SystemExit(128 + signum)


def run(args: argparse.Namespace) -> int:
    import time

    import torch

    from .. import __version__, load_pretrained
    from ..checkpoint import file_sha256
    from ..genome import check_tiling, default_tiling, open_fasta, read_regions, sequence_source, whole_records
    from ..io import atomic_write_json

    if args.threads is not None:
        if args.threads < 1:
            raise ValueError(f"--threads {args.threads} must be at least 1")
        torch.set_num_threads(args.threads)
    started = time.perf_counter()
    model = load_pretrained(args.checkpoint).to(args.device)  # an LDARNet or a MergeDNA
    given = {"window": args.window, "overlap": args.overlap, "batch_size": args.batch_size}
    tiling = {key: value if given[key] is None else given[key] for key, value in default_tiling(model).items()}
    check_tiling(**tiling)
    lengths, fetch = sequence_source(open_fasta(args.fasta))
    segments = read_regions(args.bed, lengths) if args.bed else whole_records(lengths)
    if not segments:
        raise ValueError(f"FASTA {args.fasta} has no non-empty records")
    # SIGTERM ends the run like Ctrl-C (exit 143), so the writers' cleanup runs and no temporary file stays;
    # after SIGKILL, the next run into this prefix removes them (ldarnet.genome.remove_stale_partials)
    # and resumes from the finished parts (ldarnet.genome.parts); under torchrun only rank 0 merges and records
    from ..genome.parts import write_sharded_tracks

    previous = signal.signal(signal.SIGTERM, _terminate)
    try:
        summary = write_sharded_tracks(
            model, segments, fetch, lengths, args.out, **tiling, device=args.device, precision=args.precision,
            part_bp=args.part_bp, fmt=args.format, store=args.store, progress=not args.no_progress,
            provenance={"checkpoint_sha256": model.source["sha256"], "fasta_sha256": file_sha256(args.fasta),
                        "bed_sha256": file_sha256(args.bed) if args.bed else None})
    finally:
        signal.signal(signal.SIGTERM, previous)
    if summary is None:  # a rank other than 0 under torchrun: its parts are written, rank 0 merged them
        return 0
    seconds = time.perf_counter() - started
    record = {
        "command": "ldarnet boundaries", "ldarnet_version": __version__, "format": args.format, **summary, "seconds": round(seconds, 3),
        "mean_chunk_length": round(summary["bases"] / max(summary["chunks"], 1), 4),
        **tiling, "device": str(args.device), "threads": torch.get_num_threads(),
        "checkpoint": str(args.checkpoint), "checkpoint_sha256": model.source["sha256"],
        "fasta": str(args.fasta), "fasta_sha256": file_sha256(args.fasta),
        "bed": args.bed, "bed_sha256": file_sha256(args.bed) if args.bed else None,
    }
    atomic_write_json(f"{args.out}.json", record)
    print(f"{summary['bases']:,} bases in {summary['segments']} segment(s), {summary['chunks']:,} chunks "
          f"(mean {record['mean_chunk_length']:.2f} bp) in {seconds:.1f} s -> {summary.get('bedgraph') or summary['bigwig']}, {summary['chunks_bed']}")
    return 0
