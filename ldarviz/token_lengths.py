"""Token (chunk) lengths per genomic context: learned boundaries vs fixed k-mers vs BPE.

A boundary mask ``mask[p]`` is True where a chunk starts at base ``p`` (0-based, forward strand).
Inside a region ``[start, end)`` the chunks are the runs between consecutive starts; the region
edges also cut, so the first and last chunk of a region are truncated and are dropped by default
(``drop_edges``), for every tokenizer alike.

Contexts come from the annotation, one label per base by priority (a base in a CDS of one isoform
and an intron of another counts as CDS): ``splice`` (``±splice_window`` around every junction) >
``CDS`` > ``five_prime_UTR`` > ``three_prime_UTR`` > ``intron`` > ``promoter`` (``promoter`` bases
upstream of each TSS, strand-aware) > ``intergenic`` (everything else).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ldarnet.genome import cds, check_within_records, introns, transcripts, utrs

from .provenance import attach, make_provenance
from .sequences import check_seq_ids, sequence_source

CONTEXTS = ("splice", "CDS", "five_prime_UTR", "three_prime_UTR", "intron", "promoter", "intergenic")
COUNT_COLUMNS = ["tokenizer", "context", "length", "count"]


def _paint(label: np.ndarray, code: int, starts: np.ndarray, ends: np.ndarray) -> None:
    """Set ``label`` to ``code`` on the union of [starts, ends) where it is still unset (255)."""
    n = len(label)
    starts, ends = np.clip(starts, 0, n), np.clip(ends, 0, n)
    diff = np.zeros(n + 1, dtype=np.int32)
    np.add.at(diff, starts, 1)
    np.add.at(diff, ends, -1)
    covered = np.cumsum(diff[:-1]) > 0
    label[covered & (label == 255)] = code


def context_regions(annotation: pd.DataFrame, sequences, *, promoter: int = 1000, splice_window: int = 20) -> pd.DataFrame:
    """Cut every record into maximal runs of one genomic context.

    Parameters
    ----------
    annotation : DataFrame
        From ``ldarnet.genome.read_annotation``.
    sequences : path, pyfaidx.Fasta, dict[str, str] or dict[str, int]
        Record lengths come from here (a dict of name -> length also works).
    promoter : int
        Bases upstream of each TSS labelled ``promoter``.
    splice_window : int
        Bases either side of each junction labelled ``splice``.

    Returns
    -------
    DataFrame
        ``seq_id, start, end, context`` (0-based, half-open), covering every record of the annotation.
    """
    if isinstance(sequences, dict) and all(isinstance(v, (int, np.integer)) for v in sequences.values()):
        lengths = dict(sequences)
    else:
        lengths = sequence_source(sequences)[0]
    check_within_records(annotation, lengths)
    tx = transcripts(annotation)
    parts = {"CDS": cds(annotation), "intron": introns(annotation)}
    u = utrs(annotation)
    parts["five_prime_UTR"] = u[u["kind"] == "five_prime_UTR"]
    parts["three_prime_UTR"] = u[u["kind"] == "three_prime_UTR"]
    plus = tx["strand"] != "-"
    tss = np.where(plus, tx["start"], tx["end"])
    parts["promoter"] = pd.DataFrame({"seq_id": tx["seq_id"], "start": np.where(plus, tss - promoter, tss),
                                      "end": np.where(plus, tss, tss + promoter)})
    junctions = np.concatenate([parts["intron"]["start"].to_numpy(), parts["intron"]["end"].to_numpy()])
    parts["splice"] = pd.DataFrame({"seq_id": np.concatenate([parts["intron"]["seq_id"].to_numpy()] * 2),
                                    "start": junctions - splice_window, "end": junctions + splice_window})
    rows = []
    for name in [n for n in lengths if n in set(annotation["seq_id"])]:
        label = np.full(lengths[name], 255, dtype=np.uint8)
        for code, context in enumerate(CONTEXTS[:-1]):
            part = parts[context]
            part = part[part["seq_id"] == name]
            _paint(label, code, part["start"].to_numpy(np.int64), part["end"].to_numpy(np.int64))
        label[label == 255] = len(CONTEXTS) - 1
        cuts = np.flatnonzero(np.diff(label)) + 1
        starts = np.concatenate([[0], cuts])
        ends = np.concatenate([cuts, [len(label)]])
        rows.append(pd.DataFrame({"seq_id": name, "start": starts, "end": ends,
                                  "context": np.array(CONTEXTS)[label[starts]]}))
    table = pd.concat(rows, ignore_index=True) if rows else pd.DataFrame(columns=["seq_id", "start", "end", "context"])
    return attach(table, make_provenance(promoter=promoter, splice_window=splice_window, analysis="context_regions"))


def chunk_lengths(mask: np.ndarray, start: int, end: int, *, drop_edges: bool = True) -> np.ndarray:
    """Lengths of the chunks of ``mask`` inside ``[start, end)``; (n,) int64.

    ``mask`` is (L,) bool with True where a chunk starts. With ``drop_edges`` the first and last
    chunk (truncated by the region) are left out.
    """
    starts = np.flatnonzero(mask[start:end])
    starts = np.concatenate([[0], starts]) if len(starts) == 0 or starts[0] != 0 else starts
    lengths = np.diff(np.concatenate([starts, [end - start]]))
    return lengths[1:-1] if drop_edges else lengths


def _region_lengths(regions: pd.DataFrame, lengths_of) -> pd.DataFrame:
    counts = {}
    for row in regions.itertuples(index=False):
        values = lengths_of(row)
        if len(values):
            u, c = np.unique(values, return_counts=True)
            for length, n in zip(u.tolist(), c.tolist()):
                counts[(row.context, length)] = counts.get((row.context, length), 0) + n
    return pd.DataFrame([(ctx, length, n) for (ctx, length), n in counts.items()], columns=["context", "length", "count"])


def learned_length_counts(masks: dict[str, np.ndarray], regions: pd.DataFrame, *, threshold: float = 0.5,
                          drop_edges: bool = True) -> pd.DataFrame:
    """Chunk-length counts per context from boundary masks (or probabilities, cut at ``threshold``)."""
    check_seq_ids(regions["seq_id"].unique(), masks, "regions")
    as_bool = {name: (m if m.dtype == bool else np.asarray(m, dtype=np.float32) >= threshold) for name, m in masks.items()}
    return _region_lengths(regions, lambda r: chunk_lengths(as_bool[r.seq_id], r.start, r.end, drop_edges=drop_edges))


def kmer_length_counts(regions: pd.DataFrame, k: int, *, drop_edges: bool = True) -> pd.DataFrame:
    """Token lengths of non-overlapping k-mers laid from each region's start (the last may be short)."""
    def lengths_of(r):
        n = r.end - r.start
        values = np.full(n // k, k, dtype=np.int64)
        if n % k:
            values = np.append(values, n % k)
        return values[1:-1] if drop_edges else values
    return _region_lengths(regions, lengths_of)


def train_bpe(sequences, *, vocab_size: int = 4096, max_bases: int = 5_000_000, piece: int = 1000, seed: int = 0):
    """Train a byte-pair-encoding tokenizer (HF ``tokenizers``) on the same corpus, DNABERT-2 style.

    The corpus is cut into ``piece``-base words (BPE merges within words); up to ``max_bases`` bases
    of them, drawn at random with ``seed``, are used. Returns a ``tokenizers.Tokenizer``.
    """
    from tokenizers import Tokenizer, models, trainers

    lengths, fetch = sequence_source(sequences)
    starts = [(name, s) for name, n in lengths.items() for s in range(0, max(n - piece + 1, 0), piece)]
    rng = np.random.default_rng(seed)
    take = rng.permutation(len(starts))[: max(1, max_bases // piece)]
    words = [fetch(starts[i][0], starts[i][1], starts[i][1] + piece) for i in sorted(take)]
    tokenizer = Tokenizer(models.BPE(unk_token="N"))
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, show_progress=False, initial_alphabet=list("ACGTN"),
                                  special_tokens=["N"])
    tokenizer.train_from_iterator(words, trainer)
    return tokenizer


def bpe_length_counts(tokenizer, regions: pd.DataFrame, sequences, *, drop_edges: bool = True) -> pd.DataFrame:
    """Token lengths of ``tokenizer`` applied to each region's sequence on its own."""
    _, fetch = sequence_source(sequences)
    texts = [fetch(r.seq_id, r.start, r.end) for r in regions.itertuples(index=False)]
    encoded = tokenizer.encode_batch(texts)
    per_region = [np.array([e - s for s, e in enc.offsets], dtype=np.int64) for enc in encoded]
    lookup = dict(zip(range(len(regions)), per_region))
    numbered = regions.reset_index(drop=True).assign(row_k=np.arange(len(regions)))
    return _region_lengths(numbered, lambda r: lookup[r.row_k][1:-1] if drop_edges else lookup[r.row_k])


def token_length_distributions(masks: dict[str, np.ndarray], regions: pd.DataFrame, sequences, *, kmers=(6,),
                               bpe_vocab_size: int | None = 4096, bpe_max_bases: int = 5_000_000, threshold: float = 0.5,
                               drop_edges: bool = True, seed: int = 0, model=None) -> pd.DataFrame:
    """Length distributions per context for the learned boundaries, fixed k-mers and BPE.

    Returns
    -------
    DataFrame
        ``tokenizer, context, length, count, fraction`` (``fraction`` within tokenizer and context);
        tokenizers are ``learned``, ``kmer<k>`` and ``bpe<vocab>`` (BPE skipped when ``bpe_vocab_size`` is None).
        ``model`` (the :class:`ldarviz.Loaded` record the masks came from) gives ``attrs["provenance"]`` its checkpoint hash.
    """
    tables = [learned_length_counts(masks, regions, threshold=threshold, drop_edges=drop_edges).assign(tokenizer="learned")]
    for k in kmers:
        tables.append(kmer_length_counts(regions, k, drop_edges=drop_edges).assign(tokenizer=f"kmer{k}"))
    if bpe_vocab_size:
        tok = train_bpe(sequences, vocab_size=bpe_vocab_size, max_bases=bpe_max_bases, seed=seed)
        tables.append(bpe_length_counts(tok, regions, sequences, drop_edges=drop_edges).assign(tokenizer=f"bpe{bpe_vocab_size}"))
    table = pd.concat(tables, ignore_index=True)[COUNT_COLUMNS]
    table = table.sort_values(["tokenizer", "context", "length"], kind="stable").reset_index(drop=True)
    table["fraction"] = table["count"] / table.groupby(["tokenizer", "context"])["count"].transform("sum")
    record = make_provenance(model=model, seed=seed, kmers=list(kmers), bpe_vocab_size=bpe_vocab_size, bpe_max_bases=bpe_max_bases,
                             threshold=threshold, drop_edges=drop_edges, analysis="token_length_distributions")
    record["inputs"].update(regions.attrs.get("provenance", {}).get("inputs", {}))
    return attach(table, record)


def compare_contexts(table: pd.DataFrame, *, max_length: int = 32, min_count: int = 20) -> pd.DataFrame:
    """Do length distributions differ between contexts? One row per tokenizer.

    A chi-square test of independence on the context x length table (lengths above ``max_length``
    pooled into one bin; contexts with fewer than ``min_count`` tokens left out), with Cramér's V
    as the effect size (with millions of tokens any difference is "significant", so read V), and a
    Kruskal-Wallis test on the lengths themselves.

    Returns
    -------
    DataFrame
        ``tokenizer, n_contexts, n_tokens, chi2, dof, chi2_pvalue, cramers_v, kruskal_h, kruskal_pvalue``
        plus ``median_<context>`` columns.
    """
    from scipy.stats import chi2_contingency, kruskal

    rows = []
    for tokenizer, sub in table.groupby("tokenizer", sort=True):
        sizes = sub.groupby("context")["count"].sum()
        keep = sizes[sizes >= min_count].index
        sub = sub[sub["context"].isin(keep)]
        row = {"tokenizer": tokenizer, "n_contexts": len(keep), "n_tokens": int(sub["count"].sum())}
        binned = sub.assign(length=np.minimum(sub["length"], max_length))
        crosstab = binned.pivot_table(index="context", columns="length", values="count", aggfunc="sum", fill_value=0)
        crosstab = crosstab.loc[:, crosstab.sum(axis=0) > 0]
        if crosstab.shape[0] >= 2 and crosstab.shape[1] >= 2:
            chi2, p, dof, _ = chi2_contingency(crosstab.to_numpy())
            v = np.sqrt(chi2 / (crosstab.to_numpy().sum() * (min(crosstab.shape) - 1)))
            samples = [np.repeat(g["length"].to_numpy(), g["count"].to_numpy()) for _, g in sub.groupby("context")]
            try:
                h, kp = kruskal(*samples)
            except ValueError:  # every length identical across contexts
                h, kp = 0.0, 1.0
            row.update(chi2=float(chi2), dof=int(dof), chi2_pvalue=float(p), cramers_v=float(v),
                       kruskal_h=float(h), kruskal_pvalue=float(kp))
        else:  # a single length everywhere (e.g. k-mers): nothing can differ
            row.update(chi2=0.0, dof=0, chi2_pvalue=1.0, cramers_v=0.0, kruskal_h=0.0, kruskal_pvalue=1.0)
        for context, g in sub.groupby("context"):
            cum = np.cumsum(g.sort_values("length")["count"].to_numpy())
            row[f"median_{context}"] = int(g.sort_values("length")["length"].to_numpy()[np.searchsorted(cum, cum[-1] / 2)])
        rows.append(row)
    return attach(pd.DataFrame(rows), table.attrs.get("provenance"))
