"""Task builders on the real Arabidopsis and yeast slices in data/."""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import pytest

from ldarnet import reverse_complement_text
from ldarnet.genome import introns, read_annotation, transcripts
from ldarnet.finetune import load_csv
from ldarnet.commands import make_task as make_task_command
from ldarnet.finetune.tasks import build_task, promoter_task, splice_site_task

DATA = Path(__file__).resolve().parents[1] / "data"
ATH_FA, ATH_GFF = DATA / "athal_chr1_1000000_1200000.fa", DATA / "athal_chr1_1000000_1200000.gff3"
YEAST_FA, YEAST_GFF = DATA / "scer_chrI.fa", DATA / "scer_chrI.gff3"


def _genome(path: Path) -> str:
    lines = path.read_text().splitlines()
    assert sum(line.startswith(">") for line in lines) == 1
    return "".join(line.strip() for line in lines[1:]).upper()


@pytest.fixture(scope="module")
def athal() -> str:
    return _genome(ATH_FA)


@pytest.fixture(scope="module")
def donors():
    return splice_site_task(ATH_FA, ATH_GFF, site="donor", window=100, seed=0)


@pytest.fixture(scope="module")
def acceptors():
    return splice_site_task(ATH_FA, ATH_GFF, site="acceptor", window=100, seed=0)


def test_windows_are_the_genome_read_on_their_strand(athal, donors):
    for row in donors.sample(40, random_state=0).itertuples():
        forward = athal[row.start:row.end]
        assert row.sequence == (forward if row.strand == "+" else reverse_complement_text(forward))
        assert row.end - row.start == 100


def test_donor_windows_put_the_gt_at_the_centre(donors):
    site = donors[donors["label"] == 1]
    decoy = donors[donors["label"] == 0]
    centre = site["sequence"].str[50:52]
    # TAIR10 donors are ~98.6% GT (shared/data README); every decoy is GT by construction
    assert (centre == "GT").mean() > 0.95
    assert (decoy["sequence"].str[50:52] == "GT").all()
    assert len(decoy) == len(site) and set(site["strand"]) == {"+", "-"} and set(decoy["strand"]) == {"+", "-"}
    # one positive per distinct annotated donor that fits the slice
    gaps = introns(read_annotation(ATH_GFF))
    distinct = {(s if st == "+" else e - 1, st) for s, e, st in gaps[["start", "end", "strand"]].itertuples(index=False)}
    assert len(site) <= len(distinct)
    assert len(site) > 0.9 * len(distinct)


def test_acceptor_windows_put_the_ag_before_the_centre(acceptors):
    site = acceptors[acceptors["label"] == 1]
    assert (site["sequence"].str[48:50] == "AG").mean() > 0.98
    assert (acceptors.loc[acceptors["label"] == 0, "sequence"].str[48:50] == "AG").all()


def test_decoys_are_gc_matched_and_never_annotated_sites(donors):
    site = donors[donors["label"] == 1]
    decoy = donors[donors["label"] == 0]

    def gc(seqs):
        return seqs.apply(lambda s: (s.count("G") + s.count("C")) / len(s)).to_numpy()

    assert abs(gc(site["sequence"]).mean() - gc(decoy["sequence"]).mean()) < 0.01
    # the GC histograms match bin by bin, not just on average
    bins = np.arange(0, 1.05, 0.05)
    hist_site, _ = np.histogram(gc(site["sequence"]), bins)
    hist_decoy, _ = np.histogram(gc(decoy["sequence"]), bins)
    assert np.abs(hist_site - hist_decoy).sum() <= 0.1 * len(site)
    true_sites = set(zip(site["start"], site["strand"]))
    assert not true_sites & set(zip(decoy["start"], decoy["strand"]))


def test_promoter_windows_centre_on_tss_and_negatives_stay_away(athal):
    table = promoter_task(ATH_FA, ATH_GFF, window=200, min_distance=1500, seed=0)
    pos, neg = table[table["label"] == 1], table[table["label"] == 0]
    ts = transcripts(read_annotation(ATH_GFF))
    tss = set(zip(np.where(ts["strand"] == "-", ts["end"] - 1, ts["start"]), ts["strand"]))
    centres = set(zip(np.where(pos["strand"] == "-", pos["end"] - 101, pos["start"] + 100), pos["strand"]))
    assert centres <= tss and len(centres) == len(pos)
    assert len(neg) == len(pos) and (neg["kind"] == "random").all()
    all_tss = np.array(sorted(p for p, _ in tss))
    neg_centres = (neg["start"] + 100).to_numpy()
    nearest = np.min(np.abs(neg_centres[:, None] - all_tss[None, :]), axis=1)
    assert nearest.min() >= 1500
    again = promoter_task(ATH_FA, ATH_GFF, window=200, min_distance=1500, seed=0)
    assert again["sequence"].tolist() == table["sequence"].tolist()
    other = promoter_task(ATH_FA, ATH_GFF, window=200, min_distance=1500, seed=1)
    assert other.loc[other["label"] == 0, "start"].tolist() != neg["start"].tolist()


def test_yeast_cds_only_annotation_puts_the_start_codon_at_the_tss():
    table = promoter_task(YEAST_FA, YEAST_GFF, window=60, seed=0)
    pos = table[table["label"] == 1]
    assert (pos["sequence"].str[30:33] == "ATG").mean() > 0.98
    assert set(pos["strand"]) == {"+", "-"}


def test_build_task_writes_a_csv_the_loader_reads(tmp_path):
    out = tmp_path / "tasks" / "acceptor.csv"
    built = build_task("acceptor", ATH_FA, ATH_GFF, out, window=80)
    back = load_csv(out)
    assert back["sequence"].tolist() == built["sequence"].tolist()
    assert sorted(back["label"].unique()) == [0, 1]
    with pytest.raises(ValueError, match="choose one of"):
        build_task("enhancer", ATH_FA, ATH_GFF, out)


def test_make_task_cli(tmp_path, capsys):
    parser = argparse.ArgumentParser()
    make_task_command.register(parser.add_subparsers())
    out = tmp_path / "p.csv"
    args = parser.parse_args(["make-task", "promoter", "--fasta", str(YEAST_FA), "--annotation", str(YEAST_GFF),
                              "--out", str(out), "--window", "120", "--negatives-per-positive", "2"])
    assert args.func(args) == 0
    table = load_csv(out)
    assert (table["label"] == 0).sum() == 2 * (table["label"] == 1).sum()
    assert "wrote" in capsys.readouterr().err


def test_bad_inputs_raise_clear_errors(tmp_path):
    with pytest.raises(ValueError, match="window"):
        promoter_task(ATH_FA, ATH_GFF, window=2)
    with pytest.raises(ValueError, match="site="):
        splice_site_task(ATH_FA, ATH_GFF, site="branch")
    other = tmp_path / "renamed.fa"
    other.write_text(">chrZ\n" + "ACGT" * 100 + "\n")
    with pytest.raises(ValueError, match=r"gff3, line 4: record 'NC_003070.9_1000000_1200000' is not in .*renamed.fa"):
        promoter_task(other, ATH_GFF)
    with pytest.raises(ValueError, match="no stranded introns"):
        gff = tmp_path / "single_exon.gff3"
        gff.write_text("##gff-version 3\nchrZ\tx\tgene\t10\t90\t.\t+\t.\tID=g1\n"
                       "chrZ\tx\tmRNA\t10\t90\t.\t+\t.\tID=t1;Parent=g1\nchrZ\tx\texon\t10\t90\t.\t+\t.\tParent=t1\n")
        splice_site_task(other, gff)
    with pytest.raises(ValueError, match="fits inside"):
        promoter_task(other, tmp_path / "single_exon.gff3", window=400)


# -- features outside the FASTA (issue 8) -------------------------------------------------------------

def _gff_with_a_stray_feature(tmp_path, seq_id: str, start: int, end: int) -> Path:
    text = ATH_GFF.read_text().rstrip("\n").split("\n")
    n = len(text) + 1
    text.append(f"{seq_id}\tx\tgene\t{start}\t{end}\t.\t+\t.\tID=stray")
    path = tmp_path / "stray.gff3"
    path.write_text("\n".join(text) + "\n")
    return path, n


@pytest.mark.parametrize("where", ["missing_record", "past_the_end"])
def test_make_task_names_the_feature_outside_the_fasta_or_skips_it(tmp_path, capsys, where):
    if where == "missing_record":
        gff, line = _gff_with_a_stray_feature(tmp_path, "chrNotThere", 10, 90)
        message = rf"stray.gff3, line {line}: record 'chrNotThere' is not in"
    else:
        gff, line = _gff_with_a_stray_feature(tmp_path, "NC_003070.9_1000000_1200000", 199_990, 200_500)
        message = rf"stray.gff3, line {line}: gene ends at 200500 .*beyond the end of record"
    with pytest.raises(ValueError, match=message):
        splice_site_task(ATH_FA, gff, site="donor", window=100)
    parser = argparse.ArgumentParser()
    make_task_command.register(parser.add_subparsers())
    out = tmp_path / "t.csv"
    args = parser.parse_args(["make-task", "donor", "--fasta", str(ATH_FA), "--annotation", str(gff),
                              "--out", str(out), "--window", "100"])
    with pytest.raises(ValueError, match=message):
        args.func(args)
    assert not out.exists()
    args = parser.parse_args(["make-task", "donor", "--fasta", str(ATH_FA), "--annotation", str(gff),
                              "--out", str(out), "--window", "100", "--skip-outside"])
    assert args.func(args) == 0
    assert "skipped 1 annotation feature(s) outside the FASTA records" in capsys.readouterr().err
    assert len(load_csv(out)) > 0


def test_make_task_and_ldarviz_splice_share_one_junction_convention(donors, acceptors):
    """Every make-task positive is centred on a junction of ldarviz.splice_sites, read alike."""
    from ldarnet.genome import oriented_first_base
    from ldarviz import splice_sites

    sites = splice_sites(ATH_GFF, ATH_FA)
    for kind, table in (("donor", donors), ("acceptor", acceptors)):
        true = sites[sites["kind"] == kind]
        centre = oriented_first_base(true["junction"], true["strand"])
        expected = set(zip(true["strand"], centre))
        pos = table[table["label"] == 1]
        # a window's centre (index W // 2 of the oriented sequence) in forward coordinates
        got = set(zip(pos["strand"], np.where(pos["strand"] == "+", pos["start"] + 50, pos["end"] - 1 - 50)))
        assert got and got <= expected and len(got) >= 0.95 * len(expected)
        # the dinucleotide make-task reads at the centre is the one ldarviz reports for that junction
        dinuc = dict(zip(zip(true["strand"], centre), true["dinucleotide"]))
        for row in pos.itertuples():
            key = (row.strand, row.start + 50 if row.strand == "+" else row.end - 1 - 50)
            read = row.sequence[50:52] if kind == "donor" else row.sequence[48:50]
            assert read == dinuc[key]
