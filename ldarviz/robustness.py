"""Robustness of a tokenization to point mutations, as a rerunnable number.

A window and its copy with random SNVs at a rate r (exactly ``round(r * L)`` positions, each
changed to one of the three other bases, seeded) are tokenized alike; the **boundary Jaccard** is
|S ∩ S'| / |S ∪ S'| of their chunk-start sets, the **token Jaccard** the same over ``(start, end)``
chunks whose bases are also unchanged. SNVs keep coordinates, so no alignment is needed.

Tokenizers compared: the learned router (the model's boundary decisions), fixed-stride chunks,
non-overlapping k-mers and BPE (HF ``tokenizers``). Stride and k-mer boundaries never move, so
their boundary Jaccard is 1 by construction; their token Jaccard shows how many tokens change.
Coordinates are 0-based, half-open.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd
import torch

from ldarnet import batch_encode

from .provenance import finish_figure

DEFAULT_RATES = (0.001, 0.01, 0.05)


def mutate(sequence: str, rate: float, rng: np.random.Generator) -> str:
    """A copy of ``sequence`` with ``round(rate * L)`` random SNVs (A/C/G/T positions only)."""
    chars = np.frombuffer(sequence.encode("latin-1"), dtype="S1").copy()
    eligible = np.flatnonzero(np.isin(chars, [b"A", b"C", b"G", b"T"]))
    n = min(int(round(rate * len(sequence))), len(eligible))
    where = rng.choice(eligible, size=n, replace=False)
    for k in where:
        others = [b for b in (b"A", b"C", b"G", b"T") if b != chars[k]]
        chars[k] = others[rng.integers(3)]
    return chars.tobytes().decode("latin-1")


def boundary_jaccard(starts_a, starts_b) -> float:
    """Jaccard index of two sets of chunk starts (1.0 when both are empty)."""
    a, b = set(np.asarray(starts_a).tolist()), set(np.asarray(starts_b).tolist())
    return len(a & b) / len(a | b) if a | b else 1.0


def token_jaccard(seq_a: str, starts_a, seq_b: str, starts_b) -> float:
    """Jaccard index of the token sets ``(start, end, bases)`` of two tokenizations of equal-length sequences."""
    def tokens(seq, starts):
        cuts = sorted(set(np.asarray(starts).tolist()) | {0, len(seq)})
        return {(s, e, seq[s:e]) for s, e in zip(cuts[:-1], cuts[1:])}

    a, b = tokens(seq_a, starts_a), tokens(seq_b, starts_b)
    return len(a & b) / len(a | b) if a | b else 1.0


# -- tokenizers: each maps a list of equal-length sequences to a list of chunk-start arrays --------
def learned_starts(model: torch.nn.Module, *, batch_size: int = 16) -> Callable[[list[str]], list[np.ndarray]]:
    """The router's boundary decisions (``boundary_mask`` of stage 0)."""
    def starts(seqs: list[str]) -> list[np.ndarray]:
        out, device = [], next(model.parameters()).device
        with torch.no_grad():
            for b in range(0, len(seqs), batch_size):
                ids, mask = batch_encode(seqs[b: b + batch_size])
                stage = model.extract_boundaries(ids.to(device), mask.to(device))[0]
                out += [np.flatnonzero(m[: len(s)]) for m, s in zip(stage.boundary_mask.cpu().numpy(), seqs[b: b + batch_size])]
        return out
    return starts


def stride_starts(stride: int) -> Callable[[list[str]], list[np.ndarray]]:
    """Fixed-stride chunks (also non-overlapping k-mers, with ``stride = k``)."""
    return lambda seqs: [np.arange(0, len(s), stride) for s in seqs]


def bpe_starts(tokenizer) -> Callable[[list[str]], list[np.ndarray]]:
    """Token starts of a HF ``tokenizers`` BPE (e.g. ``ldarviz.train_bpe``)."""
    return lambda seqs: [np.array([s for s, _ in enc.offsets], dtype=np.int64) for enc in tokenizer.encode_batch(seqs)]


def _bootstrap(values: np.ndarray, n_boot: int, ci: float, rng: np.random.Generator) -> tuple[float, float]:
    means = values[rng.integers(len(values), size=(n_boot, len(values)))].mean(1)
    return float(np.quantile(means, (1 - ci) / 2)), float(np.quantile(means, (1 + ci) / 2))


def robustness_table(windows: list[str], tokenizers: dict[str, Callable], *, rates=DEFAULT_RATES, n_boot: int = 1000,
                     ci: float = 0.95, seed: int = 0) -> pd.DataFrame:
    """Mean boundary and token Jaccard per tokenizer and SNV rate, with bootstrap intervals over windows.

    Parameters
    ----------
    windows : list of str
        Held-out sequences of equal length (e.g. 1,024 bp tiles of a region the model never trained on).
    tokenizers : dict
        Name -> function from a list of sequences to their chunk-start arrays
        (:func:`learned_starts`, :func:`stride_starts`, :func:`bpe_starts`).
    rates : sequence of float
        SNV rates; every tokenizer sees the same mutated copies.

    Returns
    -------
    DataFrame
        ``tokenizer, rate, n_windows, boundary_jaccard, boundary_lo, boundary_hi, token_jaccard,
        token_lo, token_hi`` (intervals: percentile bootstrap of the mean over windows, level ``ci``).
    """
    rng = np.random.default_rng(seed)
    mutated = {rate: [mutate(w, rate, rng) for w in windows] for rate in rates}
    rows = []
    for name, starts_of in tokenizers.items():
        ref = starts_of(list(windows))
        for rate in rates:
            alt = starts_of(mutated[rate])
            bj = np.array([boundary_jaccard(a, b) for a, b in zip(ref, alt)])
            tj = np.array([token_jaccard(w, a, m, b) for w, a, m, b in zip(windows, ref, mutated[rate], alt)])
            # the same resampled windows for every tokenizer, rate and measure
            rows.append((name, rate, len(windows), bj.mean(), *_bootstrap(bj, n_boot, ci, np.random.default_rng(seed + 1)),
                         tj.mean(), *_bootstrap(tj, n_boot, ci, np.random.default_rng(seed + 1))))
    return pd.DataFrame(rows, columns=["tokenizer", "rate", "n_windows", "boundary_jaccard", "boundary_lo", "boundary_hi",
                                       "token_jaccard", "token_lo", "token_hi"])


def plot_robustness(table: pd.DataFrame, *, measure: str = "boundary", ax=None, save_path=None, title: str | None = None,
                    provenance: dict | None = None):
    """Mean Jaccard against SNV rate per tokenizer, with the bootstrap intervals as error bars.

    ``measure`` is ``boundary`` or ``token``. Returns the Figure.
    """
    import matplotlib.pyplot as plt

    if measure not in ("boundary", "token"):
        raise ValueError(f"measure must be 'boundary' or 'token', got {measure!r}")
    fig, ax = plt.subplots(figsize=(5.5, 3.5)) if ax is None else (ax.figure, ax)
    for name, part in table.groupby("tokenizer", sort=False):
        mean = part[f"{measure}_jaccard"].to_numpy()
        err = np.vstack([mean - part[f"{measure}_lo"].to_numpy(), part[f"{measure}_hi"].to_numpy() - mean])
        ax.errorbar(part["rate"] * 100, mean, yerr=err, marker="o", capsize=3, label=name)
    ax.set_xscale("log")
    ax.set_xlabel("SNV rate (%)")
    ax.set_ylabel(f"{measure} Jaccard (mutated vs original)")
    ax.set_ylim(None, 1.02)
    ax.legend(fontsize=8, frameon=False)
    if title:
        ax.set_title(title, fontsize=10)
    return finish_figure(fig, save_path=save_path, provenance=provenance)
