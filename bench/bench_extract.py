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


def _shown(path) -> str:
    """A path as the committed JSON records it: relative to the repository, never this machine's absolute path."""
    path = Path(path).resolve()
    if path.is_relative_to(ROOT):
        return str(path.relative_to(ROOT))
    if path.is_relative_to(ROOT.parent / "shared"):  # the shared data beside the project, as its README names it
        return f"../{path.relative_to(ROOT.parent)}"
    return f"<temporary folder>/{path.name}"
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


def overlap_check(model, fetch, segment: Segment, window: int, overlaps=(512, 1024, 1536, 2048)) -> dict:
    """How much overlap the tiling needs: windowed values against one whole-segment window.

    The segment is run once as a single window (the reference: no window edge inside it), then
    tiled with ``window`` and each overlap; max and 99.9th-percentile |dp| and the flipped boundary
    decisions tell which overlap reads every base beyond the encoder's reach from an edge.
    """
    import numpy as np

    def run(w, o):
        pieces = list(iter_boundaries(model, [segment], fetch, window=w, overlap=o, batch_size=1, progress=False))
        return np.concatenate([p.prob for p in pieces]).astype(np.float32), np.concatenate([p.mask for p in pieces])

    ref_p, ref_m = run(segment.length, 2)
    rows = []
    for o in overlaps:
        p, m = run(window, o)
        d = np.abs(p - ref_p)
        rows.append({"overlap": o, "windows": len(plan_windows(segment.length, window, o)), "max_abs_dp": float(d.max()),
                     "p999_abs_dp": float(np.quantile(d, 0.999)), "mean_abs_dp": float(d.mean()),
                     "flipped_decisions": int((m != ref_m).sum()), "compute_overhead": round(window / (window - o), 3)})
        print(json.dumps(rows[-1]), flush=True)
    return {"bases": segment.length, "window": window, "reference": "the whole segment as one window", "rows": rows,
            "float16_step_near_1": 2 ** -11}


def cli_matrix(args, save=None) -> dict:
    """``ldarnet boundaries`` end to end (FASTA -> bigWig/bedGraph + chunks + store), side by side in one run.

    Each configuration is a fresh process (``torchrun`` for 2 processes), timed from start to the
    finished files; its peak RSS is the command's own VmHWM (``os.wait4``'s figure is kept beside it,
    but Linux carries the forking parent's peak into it).
    Bytes per base are the output file sizes over the bases run.
    """
    import subprocess

    from ldarnet import DEFAULT_CHECKPOINT, LDARNet, LDARNetConfig
    from ldarnet.genome import open_fasta as _open

    work = Path(tempfile.mkdtemp(prefix="bench_extract_"))
    with _open(args.matrix_fasta, quiet=True) as fasta:
        name = next(iter(fasta.keys()))
        seq = str(fasta[name][:args.matrix_bp])
    genome = work / "genome.fa"
    genome.write_text(f">{name}\n{seq}\n")
    big = work / "ldarnet-120m"
    torch.manual_seed(0)
    LDARNet(LDARNetConfig.preset("ldarnet-120m")).save_pretrained(big)
    proxy = str(args.checkpoint or DEFAULT_CHECKPOINT)
    configs = [  # name, checkpoint, processes, threads per process, precision, format, bases
        ("proxy 1 proc x 1 thread fp32 bigwig", proxy, 1, 1, "fp32", "bigwig", len(seq)),
        ("proxy 1 proc x 2 threads fp32 bigwig+store", proxy, 1, 2, "fp32", "bigwig", len(seq)),
        ("proxy 2 procs x 1 thread fp32 bigwig", proxy, 2, 1, "fp32", "bigwig", len(seq)),
        ("proxy 1 proc x 2 threads bf16 bigwig", proxy, 1, 2, "bf16", "bigwig", len(seq)),
        ("proxy 1 proc x 2 threads fp32 bedgraph", proxy, 1, 2, "fp32", "bedgraph", len(seq)),
        ("120m 1 proc x 2 threads fp32 bigwig", str(big), 1, 2, "fp32", "bigwig", args.matrix_120m_bp),
    ]
    configs = [c for c in configs if not args.matrix_only or args.matrix_only in c[0]]
    rows = []

    def summary(rows):
        return _matrix_summary(args, name, seq, rows)

    from bench.cpu_ceiling import calibration

    # Rounds run every configuration once each, in order: on a shared host whose speed drifts (its calibration
    # moved 30-140 GFLOP/s within an hour), the medians over rounds compare configurations fairly.
    runs = [(r, c) for r in range(args.matrix_rounds) for c in configs]
    for round_index, (label, ckpt, procs, threads, precision, fmt, bases) in runs:
        machine_gflops = round(calibration(steps=10)["gflops"], 1)  # this host's speed just before the row
        fa = genome
        if bases < len(seq):
            fa = work / f"genome_{bases}.fa"
            fa.write_text(f">{name}\n{seq[:bases]}\n")
        out = work / label.replace(" ", "_") / "run"
        cli = ["-m", "ldarnet.cli", "boundaries", "--checkpoint", ckpt, "--fasta", str(fa), "--out", str(out), "--format", fmt,
               "--precision", precision, "--threads", str(threads), "--no-progress", "--part-bp", str(args.matrix_part_bp)] + (
                   ["--store"] if "store" in label else [])
        launcher = [sys.executable] if procs == 1 else [sys.executable, "-m", "torch.distributed.run", "--standalone",
                                                           "--nproc_per_node", str(procs)]
        load = os.getloadavg()
        started = time.perf_counter()
        proc = subprocess.Popen(launcher + cli, cwd=ROOT, env={**os.environ, "OMP_NUM_THREADS": str(threads)},
                                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        _, status, usage = os.wait4(proc.pid, 0)
        seconds = time.perf_counter() - started
        err = proc.stderr.read().decode()
        if status != 0:
            rows.append({"config": label, "round": round_index, "error": err[-2000:]})
            print(json.dumps(rows[-1]), flush=True)
            continue
        record = json.loads(out.with_suffix(".json").read_text())
        sizes = {key: os.path.getsize(record[key]) for key in ("bedgraph", "bigwig", "chunks_bed", "store") if record.get(key)}
        rows.append({
            "config": label, "checkpoint": _shown(ckpt), "processes": procs, "threads_per_process": threads, "precision": precision,
            "format": fmt, "bases": record["bases"], "wall_seconds_process": round(seconds, 2),
            "bp_per_s_process": round(record["bases"] / seconds, 1),  # includes Python start-up and model load
            "seconds_command": record["seconds"], "seconds_parts": record.get("seconds_parts"), "seconds_merge": record.get("seconds_merge"),
            "bp_per_s_parts": round(record["bases"] / record["seconds_parts"], 1) if record.get("seconds_parts") else None,
            # CPU seconds of the whole process tree (torchrun's ranks included: wait4 counts reaped descendants)
            "cpu_seconds": round(usage.ru_utime + usage.ru_stime, 2),
            "bp_per_cpu_s": round(record["bases"] / (usage.ru_utime + usage.ru_stime), 1),
            "peak_rss_mb_rank0": record.get("peak_rss_mb"),  # VmHWM of the command's (rank 0's) own process
            "peak_rss_mb_wait4": round(usage.ru_maxrss / 1024, 1),  # inflated: Linux carries the forking bench's peak into it
            "bytes": sizes, "bytes_per_base": {k: round(v / record["bases"], 3) for k, v in sizes.items()},
            "load_average_before": load, "round": round_index, "machine_gflops_before": machine_gflops,
        })
        print(json.dumps(rows[-1]), flush=True)
        if save is not None:  # after every row: a long matrix killed half-way keeps what it measured
            save(summary(rows))
    return summary(rows)


def _matrix_summary(args, name, seq, rows) -> dict:
    notebooks = ROOT / "bench" / "results" / "extract_notebooks.json"
    return {"benchmark": "ldarnet boundaries end to end, FASTA -> finished files", "fasta": _shown(args.matrix_fasta),
            "record": name, "proxy_bases": len(seq), "120m_bases": args.matrix_120m_bp, "part_bp": args.matrix_part_bp,
            "notebook_timings": ({"from": _shown(notebooks), **{k: v for k, v in json.loads(notebooks.read_text()).items()
                                                               if k in ("region", "bases", "runs", "met", "command")}}
                                 if notebooks.exists() else None),
            "native_bf16": any(f in open("/proc/cpuinfo").read() for f in ("avx512_bf16", "amx_bf16")),
            "by_config": _by_config(rows), "configs": rows}


def _by_config(rows: list[dict]) -> dict:
    """Per configuration over the rounds: median and best FASTA -> finished files rate (the command's own
    seconds, Python start-up excluded), the model stage's (parts), and the host speed they ran at."""
    out = {}
    for label in dict.fromkeys(r["config"] for r in rows):
        done = [r for r in rows if r["config"] == label and "error" not in r]
        if not done:
            continue
        command = [r["bases"] / r["seconds_command"] for r in done]
        out[label] = {"runs": len(done), "bp_per_s_command_median": round(statistics.median(command)),
                      "bp_per_s_command_best": round(max(command)),
                      "bp_per_s_parts_median": round(statistics.median(r["bp_per_s_parts"] for r in done)),
                      "machine_gflops": [r["machine_gflops_before"] for r in done]}
    return out


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
    parser.add_argument("--cli-matrix", action="store_true", help="instead: the CLI end to end, 1 and 2 processes, fp32 and "
                        "bf16, proxy and 120m shapes, bytes per base per format; writes bench/results/extract_scale.json")
    parser.add_argument("--matrix-only", help="only the configurations whose name contains this text")
    parser.add_argument("--matrix-fasta", default=str(ROOT / "data" / "athal_chr1_1000000_1200000.fa"))
    parser.add_argument("--matrix-bp", type=int, default=50_000, help="bases for the proxy rows")
    parser.add_argument("--matrix-120m-bp", type=int, default=8_192, help="bases for the 120m rows")
    parser.add_argument("--matrix-rounds", type=int, default=1, help="times every configuration runs, interleaved")
    parser.add_argument("--matrix-part-bp", type=int, default=16_384, help="--part-bp of the runs: small enough that 2 "
                        "processes both get parts of the short sequence (the command's default, 1 Mb, would leave one idle)")
    parser.add_argument("--overlap-check", action="store_true", help="instead: windowed vs whole-sequence values at several "
                        "overlaps over --max-bp bases (default 24,576) of the record; writes bench/results/extract_overlap.json")
    args = parser.parse_args(argv)
    if args.overlap_check:
        if args.threads:
            torch.set_num_threads(args.threads)
        lengths, fetch = sequence_source(open_fasta(args.matrix_fasta))
        record = args.record or next(iter(lengths))
        model, model_desc = load_model(args.checkpoint or str(ROOT / "checkpoints" / "ldarnet-proxy-multispecies"), args.seed)
        n = min(lengths[record], args.max_bp or 24_576)
        start = min(50_000, lengths[record] - n)
        result = {"benchmark": "overlap needed by the tiling: windowed vs whole-sequence boundary probabilities",
                  "command": " ".join([Path(sys.executable).name, *sys.argv]), "model": _shown(model_desc),
                  "fasta": _shown(args.matrix_fasta), "record": record, "start": start, "default_tiling": default_tiling(model),
                  # the model's own default overlap among the ones tried (3,072 for a router centred over +-512)
                  **overlap_check(model, fetch, Segment(record, record, start, start + n), args.window or 4096,
                                  sorted({512, 1024, 1536, 2048, default_tiling(model)["overlap"]})),
                  "load_average": os.getloadavg()}
        out = Path(args.out).with_name("extract_overlap.json") if args.out.endswith("extract.json") else Path(args.out)
        atomic_write_json(out, result)
        print(f"wrote {out}")
        return 0
    if args.cli_matrix:
        out = Path(args.out).with_name("extract_scale.json") if args.out.endswith("extract.json") else Path(args.out)
        from bench.cpu_ceiling import machine_speed

        head = {"command": " ".join([Path(sys.executable).name, *sys.argv]), "torch": torch.__version__,
                "cpu_count": os.cpu_count(), "load_average_before": os.getloadavg(),
                "calibration": {"before": machine_speed()}}  # how fast this shared machine ran, beside the rates

        def save(matrix):
            atomic_write_json(out, {**head, **matrix, "load_average_after": os.getloadavg(),
                                    "targets": {"proxy_fasta_to_bigwig_bp_per_s_2_cores": 30000}})

        matrix = cli_matrix(args, save)
        head["calibration"]["after"] = machine_speed()
        save(matrix)
        print(f"wrote {out}")
        return 0
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
