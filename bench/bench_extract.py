"""Benchmark: tiled boundary extraction with ldarnet-proxy on CPU, and the saving over a full forward.

Runs the same path as ``ldarnet boundaries`` (read FASTA windows, extract, stitch, write bedGraph
and BED) over one chromosome, recording throughput and the process's peak RSS as bases go by (a
flat RSS curve shows memory does not grow with the chromosome). Then, on the first windows of the
same chromosome, times ``model.extract_boundaries`` against the full ``model(...)`` forward on the
identical batches, interleaved, so the ratio is measured side by side.

    .venv/bin/python bench/bench_extract.py --max-bp 1000000          # quick
    .venv/bin/python bench/bench_extract.py                           # whole Arabidopsis chr1 (30.4 Mb)

Writes ``bench/results/extract.json``. On a shared machine wall-clock rates drop with the load;
the CPU seconds the process used (all its threads) are recorded too, and the load averages.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import statistics
import sys
import tempfile
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from ldarnet import LDARNet, LDARNetConfig, atomic_write_json, encode  # noqa: E402
from ldarnet.genome import (  # noqa: E402
    Segment, default_tiling, iter_boundaries, open_fasta, plan_windows, sequence_source, write_tracks,
)

DEFAULT_FASTA = str(ROOT.parent / "shared" / "data" / "genomes" / "athal_tair10_chr1" / "genomic.fna.gz")


def rss_mb() -> float:
    """Current resident set size of this process, MB (Linux /proc)."""
    with open("/proc/self/statm") as handle:
        return int(handle.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def load_model(checkpoint: str | None, seed: int) -> tuple[LDARNet, str]:
    if checkpoint:
        return LDARNet.from_pretrained(checkpoint).eval(), checkpoint
    torch.manual_seed(seed)
    return LDARNet(LDARNetConfig.preset("ldarnet-proxy")).eval(), f"ldarnet-proxy, random init, seed {seed}"


class PairRouter(torch.nn.Module):
    """A stand-in costing almost nothing: p_t from the dinucleotide (t-1, t), p_0 = 1.

    Used only by ``--pipeline-check`` to run the reading, stitching and writing over a whole
    chromosome in minutes, so their memory can be traced end to end; the real model's own memory
    does not depend on the chromosome (it sees one batch of windows at a time).
    """

    def __init__(self):
        super().__init__()
        self.table = torch.nn.Parameter(torch.rand(7, 7, generator=torch.Generator().manual_seed(0)), requires_grad=False)

    def extract_boundaries(self, input_ids, attention_mask=None):
        from ldarnet import BoundaryOutput

        valid = torch.ones_like(input_ids, dtype=torch.bool) if attention_mask is None else attention_mask.bool()
        prob = torch.cat([torch.ones_like(input_ids[:, :1], dtype=torch.float), self.table[input_ids[:, :-1], input_ids[:, 1:]]], 1)
        prob = prob * valid
        mask = prob > 0.5
        return [BoundaryOutput(prob, mask, mask.sum(1))]


def whole_run(model, fetch, segment: Segment, args, out_dir: str) -> dict:
    """Extraction + stitching + writing over ``segment``, with RSS sampled along the way."""
    trace = []
    started, cpu_started = time.perf_counter(), time.process_time()
    done = 0

    def pieces():
        nonlocal done
        next_mark = 0
        for piece in iter_boundaries(model, [segment], fetch, window=args.window, overlap=args.overlap,
                                     batch_size=args.batch_size, progress=not args.no_progress):
            done += len(piece.prob)
            if done >= next_mark:
                trace.append({"bases": done, "seconds": round(time.perf_counter() - started, 2), "rss_mb": round(rss_mb(), 1)})
                next_mark += max(segment.length // 20, 1)
            yield piece

    summary = write_tracks(pieces(), Path(out_dir) / "chr")
    seconds, cpu_seconds = time.perf_counter() - started, time.process_time() - cpu_started
    trace.append({"bases": done, "seconds": round(seconds, 2), "rss_mb": round(rss_mb(), 1)})
    return {
        "bases": summary["bases"], "seconds": round(seconds, 2), "bp_per_s": round(summary["bases"] / seconds, 1),
        "cpu_seconds": round(cpu_seconds, 2), "bp_per_cpu_s": round(summary["bases"] / cpu_seconds, 1),
        "chunks": summary["chunks"], "mean_chunk_length": round(summary["bases"] / summary["chunks"], 3),
        "bedgraph_bytes": os.path.getsize(summary["bedgraph"]), "chunks_bed_bytes": os.path.getsize(summary["chunks_bed"]),
        "peak_rss_mb": round(peak_rss_mb(), 1), "rss_trace": trace,
    }


def side_by_side(model, fetch, segment: Segment, args) -> dict:
    """Boundary-only vs full forward on the same batches of windows, interleaved, median of repeats."""
    plan = plan_windows(segment.length, args.window, args.overlap)
    n = max(args.batch_size, (args.compare_bp // args.window) // args.batch_size * args.batch_size)
    rows = plan[:n]
    batches = [torch.stack([encode(fetch(segment.chrom, int(r[0]), int(r[1]))) for r in rows[i:i + args.batch_size]])
               for i in range(0, len(rows), args.batch_size)]
    bases = sum(b.numel() for b in batches)
    times = {"extract_boundaries": [], "full_forward": []}
    cpu = {"extract_boundaries": [], "full_forward": []}
    with torch.inference_mode():
        model.extract_boundaries(batches[0])
        model(batches[0])  # warm-up of both paths
        for _ in range(args.repeats):
            for name, call in (("extract_boundaries", model.extract_boundaries), ("full_forward", model)):
                start, cpu_start = time.perf_counter(), time.process_time()
                for ids in batches:
                    call(ids)
                times[name].append(time.perf_counter() - start)
                cpu[name].append(time.process_time() - cpu_start)
    med = {name: statistics.median(t) for name, t in times.items()}
    return {
        "bases_per_repeat": bases, "windows": len(rows), "repeats": args.repeats,
        "seconds": {name: [round(x, 3) for x in t] for name, t in times.items()},
        "bp_per_s": {name: round(bases / m, 1) for name, m in med.items()},
        "cpu_seconds": {name: [round(x, 3) for x in t] for name, t in cpu.items()},
        "full_over_extract_time_ratio": round(med["full_forward"] / med["extract_boundaries"], 3),
        "full_over_extract_cpu_ratio": round(statistics.median(cpu["full_forward"]) / statistics.median(cpu["extract_boundaries"]), 3),
    }


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--fasta", default=DEFAULT_FASTA, help="FASTA (plain gzip is decompressed once into the cache)")
    parser.add_argument("--record", help="record to run over (default: the first)")
    parser.add_argument("--max-bp", type=int, help="only the first MAX_BP bases of the record (quick runs)")
    parser.add_argument("--checkpoint", help="model folder (default: a seeded random-init ldarnet-proxy)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--window", type=int, help="default: ldarnet.genome.default_tiling(model)")
    parser.add_argument("--overlap", type=int, help="default: ldarnet.genome.default_tiling(model)")
    parser.add_argument("--batch-size", type=int, help="default: ldarnet.genome.default_tiling(model)")
    parser.add_argument("--compare-bp", type=int, default=65536, help="bases in the side-by-side extract vs forward comparison")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, help="torch threads (default: torch's choice)")
    parser.add_argument("--out", default=str(ROOT / "bench" / "results" / "extract.json"))
    parser.add_argument("--no-progress", action="store_true")
    parser.add_argument("--pipeline-check", action="store_true",
                        help="also run reading + stitching + writing over the WHOLE record with a near-free stand-in router, tracing RSS")
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)

    fasta = open_fasta(args.fasta)
    lengths, fetch = sequence_source(fasta)
    record = args.record or next(iter(lengths))
    if record not in lengths:
        raise SystemExit(f"error: record {record!r} is not in {args.fasta}")
    length = min(lengths[record], args.max_bp or lengths[record])
    segment = Segment(record, record, 0, length)
    model, model_desc = load_model(args.checkpoint, args.seed)
    for key, value in default_tiling(model).items():
        if getattr(args, key) is None:
            setattr(args, key, value)
    baseline_rss = rss_mb()

    load_before = os.getloadavg()
    with tempfile.TemporaryDirectory() as out_dir:
        whole = whole_run(model, fetch, segment, args, out_dir)
    compare = side_by_side(model, fetch, segment, args)
    pipeline = None
    if args.pipeline_check:
        with tempfile.TemporaryDirectory() as out_dir:
            pipeline = whole_run(PairRouter(), fetch, Segment(record, record, 0, lengths[record]), args, out_dir)
    result = {
        "benchmark": "boundary extraction (embedding + encoder + router), tiled and stitched, written as bedGraph + BED",
        "command": " ".join([Path(sys.executable).name, *sys.argv]),
        "model": model_desc, "parameters": model.num_parameters(),
        "fasta": args.fasta, "record": record, "record_length": lengths[record], "bases_run": length,
        "window": args.window, "overlap": args.overlap, "batch_size": args.batch_size,
        "torch": torch.__version__, "threads": torch.get_num_threads(), "cpu_count": os.cpu_count(),
        "machine": platform.processor() or platform.machine(),
        "load_average_before": load_before, "load_average_after": os.getloadavg(),
        "rss_before_run_mb": round(baseline_rss, 1),
        "whole_run": whole, "side_by_side": compare,
        "pipeline_only_whole_record": pipeline and {"model": "PairRouter stand-in (near-free), reading + stitching + writing only", **pipeline},
        "targets": {"bp_per_s": 30000, "peak_rss_mb": 4096},
    }
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    atomic_write_json(args.out, result)
    print(json.dumps({k: result[k] for k in ("bases_run", "threads", "load_average_before")}, indent=None))
    print(f"whole run: {whole['bp_per_s']:.0f} bp/s ({whole['bp_per_cpu_s']:.0f} bp per CPU-second), peak RSS {whole['peak_rss_mb']:.0f} MB, "
          f"mean chunk {whole['mean_chunk_length']:.2f} bp")
    print(f"side by side: extract {compare['bp_per_s']['extract_boundaries']:.0f} bp/s, full forward "
          f"{compare['bp_per_s']['full_forward']:.0f} bp/s, ratio {compare['full_over_extract_time_ratio']:.2f}x")
    if pipeline:
        print(f"pipeline only, whole record ({pipeline['bases']:,} bp): {pipeline['bp_per_s']:.0f} bp/s, "
              f"RSS {min(t['rss_mb'] for t in pipeline['rss_trace']):.0f}-{max(t['rss_mb'] for t in pipeline['rss_trace']):.0f} MB")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
