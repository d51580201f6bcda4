"""Sharded, resumable boundary extraction: the genome in parts, each part a file, one merge.

``ldarnet boundaries`` cuts the work into *parts*: runs of consecutive windows of one segment,
about ``part_bp`` bases each, a whole number of model batches. A part is computed the same way
whichever process computes it (its own batches, its own all-N cache), so its values do not depend
on the number of processes, the order they run in, or whether the run was interrupted.

- Sharding: under ``torchrun`` (``WORLD_SIZE > 1``) part ``i`` belongs to rank ``i % WORLD_SIZE``;
  every rank writes its parts, then rank 0 merges them in order (gloo on CPU, NCCL on GPU, used
  only for the closing barrier).
- Resuming: each finished part is one file, ``PREFIX.parts/part-NNNNNN.npz``, renamed into place
  when complete, so a part file is either whole or absent. ``PREFIX.parts/plan.json`` records what
  the parts were computed from (model and input hashes, tiling, precision, device kind); a rerun
  of the same command skips finished parts, and a different command into the same prefix is
  refused rather than mixed.
- Merging streams the parts into the ordinary writers (:func:`write_tracks`, then bigWig and the
  track store when asked) and removes the parts folder. The writers' output depends only on the
  per-base values, never on how they were cut into pieces, so one process, N processes and a
  killed-then-resumed run write the same bytes.

All coordinates are 0-based, half-open.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Callable, Iterator, Sequence
from contextlib import nullcontext
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from ..io import atomic_write, atomic_write_json
from ..modes import eval_mode
from ..vocab import N_ID
from .regions import Segment
from .tiling import Piece, _encode_window, _run_batch, check_tiling, plan_windows, track_values

__all__ = ["Part", "plan_parts", "compute_part", "extract_parts", "merge_parts", "dist_context", "DEFAULT_PART_BP"]

DEFAULT_PART_BP = 1_000_000  # resume granularity: at most ~1 Mb of work is redone after a kill


@dataclass(frozen=True)
class Part:
    """Windows ``rows`` (k, 4) int64 plan rows of ``plan_windows``) of segment number ``segment``."""

    index: int
    segment: int
    rows: np.ndarray

    @property
    def bases(self) -> int:  # the bases this part supplies (its cores)
        return int(self.rows[-1, 3] - self.rows[0, 2])


def plan_parts(segments: Sequence[Segment], window: int, overlap: int, batch_size: int, *, align: int = 1,
               part_bp: int = DEFAULT_PART_BP) -> list[Part]:
    """Cut every segment's windows into parts of ``~part_bp`` bases, each a whole number of batches."""
    check_tiling(window, overlap, batch_size)
    if part_bp < 1:
        raise ValueError(f"part_bp={part_bp} must be at least 1")
    per_part = max(batch_size, round(part_bp / (window - overlap)) // batch_size * batch_size)
    parts = []
    for k, seg in enumerate(segments):
        rows = plan_windows(seg.length, window, overlap, align)
        for i in range(0, len(rows), per_part):
            parts.append(Part(len(parts), k, rows[i:i + per_part]))
    return parts


def compute_part(model: torch.nn.Module, part: Part, segment: Segment, fetch: Callable[[str, int, int], str], *,
                 batch_size: int, device, precision: str = "fp32") -> Piece:
    """Run the model over one part's windows, ``batch_size`` at a time; one stitched :class:`Piece`.

    ``precision="bf16"`` runs under bf16 autocast; the router's projections, cosines and decisions
    stay fp32 (``ldarnet.chunking``), so only the embedding and encoder matmuls run in bf16.
    """
    if precision not in ("fp32", "bf16"):
        raise ValueError(f"precision must be 'fp32' or 'bf16', got {precision!r}")
    device = torch.device(device)
    cast = torch.autocast(device.type, dtype=torch.bfloat16) if precision == "bf16" else nullcontext()
    all_n: dict = {}  # per part, so a part's values never depend on another part
    entries = []
    for row in part.rows:
        ids = _encode_window(fetch, segment, int(row[0]), int(row[1]))
        cached = all_n.get(len(ids)) if bool((ids == N_ID).all()) else None
        entries.append([segment, row, ids, *(cached or (None, None))])
    with eval_mode(model), cast:
        for i in range(0, len(entries), batch_size):
            pending = [e for e in entries[i:i + batch_size] if e[3] is None]
            if pending:
                _run_batch(model, pending, device, all_n)
            for e in entries[i + batch_size:]:  # all-N windows met later reuse the first one's output
                if e[3] is None and bool((e[2] == N_ID).all()) and len(e[2]) in all_n:
                    e[3], e[4] = all_n[len(e[2])]
    cores = [slice(int(r[2] - r[0]), int(r[3] - r[0])) for r in part.rows]
    mask = np.concatenate([e[4][c] for e, c in zip(entries, cores)]).astype(bool)
    prob = track_values(np.concatenate([e[3][c] for e, c in zip(entries, cores)]), mask)
    return Piece(segment, segment.start + int(part.rows[0, 2]), prob, mask)


def _part_path(folder: Path, index: int) -> Path:
    return folder / f"part-{index:06d}.npz"


def _save_part(path: Path, piece: Piece) -> None:
    def write(tmp):
        with open(tmp, "wb") as handle:  # uncompressed: parts are short-lived, and deflate costs more than the disk
            np.savez(handle, prob=piece.prob, mask=np.packbits(piece.mask), n=np.int64(len(piece.prob)))
    atomic_write(path, write)


def _load_part(path: Path, part: Part, segment: Segment) -> Piece:
    with np.load(path) as data:
        n = int(data["n"])
        if n != part.bases:
            raise ValueError(f"{path}: holds {n} bases, the plan says {part.bases}; remove the folder and rerun")
        prob, mask = data["prob"], np.unpackbits(data["mask"], count=n).astype(bool)
    return Piece(segment, segment.start + int(part.rows[0, 2]), prob, mask)


def dist_context(device: str) -> tuple[int, int, str]:
    """``(rank, world_size, device)`` under torchrun (process group started), or ``(0, 1, device)``.

    gloo when the device is the CPU, NCCL (with gloo for CPU tensors) on CUDA; a CUDA device
    without an index becomes ``cuda:LOCAL_RANK``.
    """
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return 0, 1, device
    import datetime

    import torch.distributed as dist

    cuda = str(device).startswith("cuda")
    if cuda and ":" not in str(device):
        device = f"cuda:{int(os.environ.get('LOCAL_RANK', '0'))}"
    if not dist.is_initialized():
        # a rank that finishes early waits at the closing barrier for the slowest one: allow days, not 30 min
        dist.init_process_group("cpu:gloo,cuda:nccl" if cuda else "gloo", timeout=datetime.timedelta(days=7))
    return dist.get_rank(), dist.get_world_size(), device


def native_bf16() -> bool | None:
    """Whether this CPU computes bf16 natively (avx512_bf16 or AMX); None where /proc/cpuinfo is absent."""
    try:
        flags = Path("/proc/cpuinfo").read_text()
    except OSError:
        return None
    return "avx512_bf16" in flags or "amx_bf16" in flags


def _check_plan(folder: Path, plan: dict) -> None:
    """Write ``plan.json``, or check that the one there describes the same run."""
    path = folder / "plan.json"
    if path.exists():
        old = json.loads(path.read_text())
        differ = sorted(k for k in set(old) | set(plan) if old.get(k) != plan.get(k))
        if differ:
            raise ValueError(f"{folder} holds parts of a different run ({', '.join(differ)} differ); "
                             "rerun the same command, or remove that folder to start over")
        return
    atomic_write_json(path, plan)  # ranks racing here write identical content


def extract_parts(model: torch.nn.Module, segments: Sequence[Segment], fetch: Callable[[str, int, int], str],
                  folder: str | os.PathLike, *, window: int, overlap: int, batch_size: int, device="cpu",
                  precision: str = "fp32", part_bp: int = DEFAULT_PART_BP, rank: int = 0, world_size: int = 1,
                  provenance: dict | None = None, progress: bool = True) -> tuple[list[Part], int]:
    """Compute this rank's missing parts into ``folder``; returns all parts and how many this call computed.

    ``provenance`` (e.g. checkpoint and FASTA hashes) goes into ``plan.json`` with the tiling, the
    precision and the device kind: parts from a run that differs in any of them are never reused.
    """
    from tqdm.auto import tqdm

    if precision == "bf16" and torch.device(device).type == "cpu" and native_bf16() is False and rank == 0:
        import warnings

        warnings.warn("--precision bf16 on a CPU without native bf16 (no avx512_bf16/amx_bf16): autocast emulates it, "
                      "usually slower than fp32", stacklevel=2)
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    parts = plan_parts(segments, window, overlap, batch_size, align=int(getattr(model, "tile_alignment", 1)), part_bp=part_bp)
    plan = {"window": window, "overlap": overlap, "batch_size": batch_size, "part_bp": part_bp, "precision": precision,
            "device_type": torch.device(device).type, "parts": len(parts),
            "segments": [[s.name, s.chrom, s.start, s.end] for s in segments], **(provenance or {})}
    _check_plan(folder, plan)
    mine = [p for p in parts[rank::world_size] if not _part_path(folder, p.index).exists()]
    model.to(device)
    bar = tqdm(total=sum(p.bases for p in mine), unit="bp", unit_scale=True, disable=not progress or rank != 0, desc="boundaries")
    try:
        for part in mine:
            piece = compute_part(model, part, segments[part.segment], fetch, batch_size=batch_size, device=device, precision=precision)
            _save_part(_part_path(folder, part.index), piece)
            bar.update(part.bases)
    finally:
        bar.close()
    return parts, len(mine)


def merge_parts(parts: Sequence[Part], segments: Sequence[Segment], folder: str | os.PathLike) -> Iterator[Piece]:
    """The finished parts in order, as pieces for the writers; a missing part is an error naming it."""
    folder = Path(folder)
    for part in parts:
        path = _part_path(folder, part.index)
        if not path.exists():
            raise ValueError(f"{path} is missing: part {part.index} of {len(parts)} was not computed; rerun the same command")
        yield _load_part(path, part, segments[part.segment])


def _peak_rss_mb() -> float | None:
    """This process's peak resident memory (VmHWM, Linux), MB; None elsewhere."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return round(int(line.split()[1]) / 1024, 1)
    except OSError:
        pass
    return None


def remove_parts(folder: str | os.PathLike) -> None:
    """Delete the parts folder once the final files are in place."""
    shutil.rmtree(folder, ignore_errors=True)


def write_sharded_tracks(model: torch.nn.Module, segments: Sequence[Segment], fetch: Callable[[str, int, int], str],
                         lengths: dict[str, int], prefix: str | os.PathLike, *, window: int, overlap: int, batch_size: int,
                         device="cpu", precision: str = "fp32", part_bp: int = DEFAULT_PART_BP, fmt: str = "bedgraph",
                         store: bool = False, provenance: dict | None = None, progress: bool = True) -> dict | None:
    """The whole of ``ldarnet boundaries`` after loading: parts (sharded, resumable), then one merge.

    Under torchrun every rank computes its parts and rank 0 merges; the other ranks return None.
    Rank 0 returns the writers' summary (paths and counts) plus ``parts``, ``parts_computed`` (by
    this call on this rank, so a resumed run shows what it skipped) and ``world_size``.
    """
    from .tracks import write_tracks

    import time

    rank, world, device = dist_context(str(device))
    folder = Path(f"{prefix}.parts")
    started = time.perf_counter()
    parts, computed = extract_parts(model, segments, fetch, folder, window=window, overlap=overlap, batch_size=batch_size,
                                    device=device, precision=precision, part_bp=part_bp, rank=rank, world_size=world,
                                    provenance=provenance, progress=progress)
    if world > 1:
        import torch.distributed as dist

        dist.barrier()
        if rank != 0:
            dist.destroy_process_group()
            return None
    merging = time.perf_counter()
    pieces = merge_parts(parts, segments, folder)
    if store:
        from .store import write_store

        pieces, finish_store = write_store(pieces, segments, f"{prefix}.store.npz",
                                            provenance={**(provenance or {}), "window": window, "overlap": overlap})
    # bigWig straight from the pieces when they come record by record in FASTA order (whole records);
    # BED regions may come in any order, so they go through the bedGraph
    chroms = [s.chrom for s in segments]
    in_order = chroms == [c for c in lengths if c in set(chroms)] and len(set(chroms)) == len(chroms)
    if fmt == "bigwig" and in_order:
        from .bigwig_stream import bigwig_tee

        pieces, finish_bigwig = bigwig_tee(pieces, lengths, f"{prefix}.bw")
    summary = write_tracks(pieces, prefix, bedgraph=not (fmt == "bigwig" and in_order))
    if store:
        summary["store"] = str(finish_store())
    if fmt == "bigwig":
        if in_order:
            summary["bigwig"] = str(finish_bigwig())
        else:
            from .bigwig import bedgraph_to_bigwig

            summary["bigwig"] = str(bedgraph_to_bigwig(summary["bedgraph"], lengths, f"{prefix}.bw"))
            Path(summary.pop("bedgraph")).unlink()
    remove_parts(folder)
    if world > 1:
        import torch.distributed as dist

        dist.destroy_process_group()
    timing = {"seconds_parts": round(merging - started, 3), "seconds_merge": round(time.perf_counter() - merging, 3),
              "peak_rss_mb": _peak_rss_mb()}
    return {**summary, "parts": len(parts), "parts_computed": computed, "world_size": world, "precision": precision, **timing}
