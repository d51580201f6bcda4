"""The igv view's configuration (inline data: URLs, no network) and the bigWig writer's round trip."""

from __future__ import annotations

import base64

import numpy as np
import pandas as pd
import pytest

from ldarnet.genome import Piece, Segment, bedgraph_to_bigwig, read_bedgraph, write_bigwig, write_tracks
from ldarviz.browse import igv_config

SEQ = "ACGT" * 30  # 120 bases


def _decoded(url: str) -> str:
    head, body = url.split(",", 1)
    assert head == "data:text/plain;base64"
    return base64.b64decode(body).decode()


def test_igv_config_carries_every_track_inline(tmp_path):
    gff = tmp_path / "a.gff3"
    gff.write_text("##gff-version 3\n"
                   "s1\tt\tgene\t11\t40\t.\t+\t.\tID=g1\n"
                   "s1\tt\tgene\t100\t110\t.\t+\t.\tID=g2\n"  # outside the locus: not sent
                   "s2\tt\tgene\t11\t40\t.\t+\t.\tID=g3\n")
    probs = np.zeros(40)
    probs[[0, 7, 20]] = [0.9, 0.8, 0.6]
    hits = pd.DataFrame({"start": [12], "end": [18], "motif_id": ["MA0108.2"], "strand": ["-"]})
    variants = pd.DataFrame({"pos": [15], "ref": ["G"], "alt": ["A"], "max_abs_delta": [0.25]})
    config = igv_config({"s1": SEQ, "s2": SEQ}, ("s1", 10, 50), probs=probs, annotation=gff, hits=hits, variants=variants)
    assert config["locus"] == "s1:11-50"
    assert config["loadDefaultGenomes"] is False  # else igv.js asks igv.org for its genome list
    assert _decoded(config["reference"]["fastaURL"]) == f">s1\n{SEQ}\n"
    tracks = {t["name"]: t for t in config["tracks"]}
    assert list(tracks) == ["boundary probability", "chunks", "annotation", "motif hits", "variants"]
    assert all(t["url"].startswith("data:") for t in tracks.values())  # nothing to fetch
    graph = _decoded(tracks["boundary probability"]["url"]).splitlines()
    assert len(graph) == 40 and graph[7] == "s1\t17\t18\t0.8"
    chunks = [line.split("\t")[1:3] for line in _decoded(tracks["chunks"]["url"]).splitlines()]
    assert chunks == [["10", "17"], ["17", "30"], ["30", "50"]]
    gff_lines = _decoded(tracks["annotation"]["url"]).splitlines()
    assert gff_lines[1:] == ["s1\tt\tgene\t11\t40\t.\t+\t.\tID=g1"]
    assert _decoded(tracks["motif hits"]["url"]) == "s1\t12\t18\tMA0108.2\t0\t-\n"
    assert _decoded(tracks["variants"]["url"]).startswith("s1\t15\t16\tG>A |dp|=0.25")


def test_igv_config_rejects_a_region_off_the_record():
    with pytest.raises(ValueError, match="does not lie within"):
        igv_config({"s1": SEQ}, ("s1", 100, 130))
    with pytest.raises(ValueError, match="40 values for a region of 10"):
        igv_config({"s1": SEQ}, ("s1", 0, 10), probs=np.zeros(40))


def test_bigwig_round_trips_to_the_bedgraph_values(tmp_path):
    pyBigWig = pytest.importorskip("pyBigWig")
    rng = np.random.default_rng(0)
    segments = [Segment("a", "a", 0, 300), Segment("b:5-105", "b", 5, 105)]
    pieces = []
    for seg in segments:
        prob = rng.random(seg.length).astype(np.float16)
        prob[10:20] = prob[10]  # a run of equal values: one bedGraph line
        for s in range(0, seg.length, 64):
            pieces.append(Piece(seg, seg.start + s, prob[s: s + 64], prob[s: s + 64] > 0.5))
    files = write_tracks(pieces, tmp_path / "t")
    bw = bedgraph_to_bigwig(files["bedgraph"], {"a": 300, "b": 200}, tmp_path / "t.bw")
    graph = read_bedgraph(files["bedgraph"])
    with pyBigWig.open(str(bw)) as handle:
        assert handle.chroms() == {"a": 300, "b": 200}
        for row in graph.itertuples(index=False):
            got = handle.values(row.chrom, row.start, row.end)
            assert got == pytest.approx([row.value] * (row.end - row.start), rel=1e-6)
        assert handle.values("b", 0, 5, numpy=True).tolist() == pytest.approx([np.nan] * 5, nan_ok=True)
    assert not list(tmp_path.glob(".*partial"))


def test_bigwig_writer_names_overlaps_and_unknown_chromosomes(tmp_path):
    pytest.importorskip("pyBigWig")
    frame = pd.DataFrame({"chrom": ["a", "a"], "start": [0, 5], "end": [10, 12], "value": [1.0, 2.0]})
    with pytest.raises(ValueError, match="overlap at"):
        write_bigwig(tmp_path / "x.bw", frame, {"a": 100})
    with pytest.raises(ValueError, match="not among"):
        write_bigwig(tmp_path / "x.bw", frame.assign(chrom="z"), {"a": 100})
    assert not (tmp_path / "x.bw").exists()
    bad = tmp_path / "bad.bedgraph"
    bad.write_text("a\t0\t5\t0.1\na\t5\tx\t0.2\n")
    with pytest.raises(ValueError, match="line 2"):
        read_bedgraph(bad)


def test_boundaries_command_writes_a_bigwig_with_the_bedgraph_values(tmp_path):
    pyBigWig = pytest.importorskip("pyBigWig")
    from pathlib import Path

    from ldarnet.cli import main

    checkpoint = Path(__file__).resolve().parents[1] / "checkpoints" / "ldarnet-proxy-multispecies"
    fasta = tmp_path / "toy.fa"
    rng = np.random.default_rng(1)
    fasta.write_text(">r1\n" + "".join(rng.choice(list("ACGT"), 300)) + "\n>r2\n" + "".join(rng.choice(list("ACGT"), 200)) + "\n")
    common = ["boundaries", "--checkpoint", str(checkpoint), "--fasta", str(fasta), "--no-progress", "--threads", "1"]
    assert main(common + ["--out", str(tmp_path / "text")]) == 0
    assert main(common + ["--out", str(tmp_path / "binary"), "--format", "bigwig"]) == 0
    assert not (tmp_path / "binary.bedgraph").exists() and (tmp_path / "binary.chunks.bed").exists()
    graph = read_bedgraph(tmp_path / "text.bedgraph")
    with pyBigWig.open(str(tmp_path / "binary.bw")) as handle:
        assert handle.chroms() == {"r1": 300, "r2": 200}
        for row in graph.itertuples(index=False):
            assert handle.values(row.chrom, row.start, row.end) == pytest.approx([row.value] * (row.end - row.start), rel=1e-6)
