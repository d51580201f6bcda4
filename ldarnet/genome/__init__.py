"""Genome I/O: FASTA access, GFF3/GTF annotation, regions, tiling and stitching, track writers.

One room for everything that reads a genome or writes per-base results over one; ``ldarviz``,
the CLI and the fine-tuning task builders use these names. All coordinates are 0-based, half-open.

- :mod:`.fasta`: open plain/bgzip/gzip FASTA files for random access (pyfaidx underneath);
- :mod:`.annotation`: GFF3/GTF as tidy tables (genes, transcripts, exons, introns, CDS, UTRs);
- :mod:`.regions`: what to extract from (sequence sources, BED regions, :class:`Segment`);
- :mod:`.tiling`: windows over long sequences, stitched per-base boundaries (:func:`iter_boundaries`);
- :mod:`.tracks`: bedGraph/BED writers (:func:`write_tracks`);
- :mod:`.parts`: sharded (torchrun) and resumable extraction in parts, one merge (:func:`write_sharded_tracks`);
- :mod:`.store`: the compressed float16 track store notebooks read regions from (:class:`TrackStore`);
- :mod:`.bigwig`: bigWig writer and bedGraph conversion (pyBigWig; :func:`write_bigwig`, :func:`bedgraph_to_bigwig`);
- :mod:`.splice`: splice junctions (one convention) and decoy junction candidates;
- :mod:`.gc`: window GC content and the one GC matcher (:func:`match_on_gc`).
"""

from .annotation import (cds, check_within_records, exons, first_promoter, genes, introns, outside_records, read_annotation,
                         transcripts, utrs)
from .fasta import FastaError, fasta_cache_dir, open_fasta, record_lengths, resolve_fasta
from .gc import BASE_CODES, base_codes, match_on_gc, record_cumsums, window_stats
from .regions import Segment, read_regions, sequence_source, whole_records
from .splice import (CANONICAL, JUNCTION_COLUMNS, candidate_junctions, junction_dinucleotides, oriented_first_base,
                     splice_junctions)
from .tiling import Piece, check_tiling, default_tiling, iter_boundaries, plan_windows
from .tracks import remove_stale_partials, write_tracks
from .parts import plan_parts, write_sharded_tracks
from .bigwig_stream import bigwig_tee
from .store import TrackStore, write_store
from .bigwig import bedgraph_to_bigwig, read_bedgraph, write_bigwig

__all__ = [
    "FastaError", "open_fasta", "resolve_fasta", "record_lengths", "fasta_cache_dir",
    "read_annotation", "genes", "transcripts", "exons", "introns", "cds", "utrs", "check_within_records", "outside_records", "first_promoter",
    "Segment", "sequence_source", "whole_records", "read_regions",
    "Piece", "default_tiling", "check_tiling", "plan_windows", "iter_boundaries",
    "write_tracks", "remove_stale_partials", "plan_parts", "write_sharded_tracks", "TrackStore", "write_store", "bigwig_tee", "write_bigwig", "bedgraph_to_bigwig", "read_bedgraph",
    "splice_junctions", "candidate_junctions", "junction_dinucleotides", "oriented_first_base", "CANONICAL",
    "JUNCTION_COLUMNS",
    "BASE_CODES", "base_codes", "record_cumsums", "window_stats", "match_on_gc",
]
