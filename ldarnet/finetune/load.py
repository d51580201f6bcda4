"""Load labeled sequence sets for fine-tuning, and write them back.

Two layouts are read:

- a CSV (or TSV) with one sequence column and one label column, the layout of the Nucleotide
  Transformer and GUE benchmarks (``sequence,label``) and of many others (``seqs,labels,...``);
- one FASTA per class, the Genomic Benchmarks layout: every record of the k-th file gets label k.

Both return the same table: a :class:`pandas.DataFrame` with columns ``sequence`` (str, as written
in the file), ``label`` (int64, classes ``0..K-1``) and ``source`` (where the row came from:
``"<file>:<line>"`` or ``"<file>:<record>"``), so that errors found later can still name the origin.

Malformed input raises one :class:`ValueError` naming the file, the 1-based line and the field.
"""

from __future__ import annotations

import csv
import math
import os
import re
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from ..io import atomic_write

__all__ = ["load_csv", "load_fasta_classes", "save_csv", "check_labels", "SEQUENCE_COLUMNS", "LABEL_COLUMNS"]

#: column names tried, in order, when no sequence / label column is named
SEQUENCE_COLUMNS = ("sequence", "sequences", "seq", "seqs")
LABEL_COLUMNS = ("label", "labels", "class", "y")

# The vocabulary's alphabet: A C G T U, N and the IUPAC ambiguity codes, any case.
_VALID = re.compile(r"[ACGTUNRYSWKMBDHVacgtunryswkmbdhv]*")


def load_csv(
    path: str | os.PathLike,
    *,
    sequence_column: str | None = None,
    label_column: str | None = None,
    delimiter: str | None = None,
) -> pd.DataFrame:
    """Read a labeled-sequence CSV.

    Parameters
    ----------
    path : str or PathLike
        The file. Its first line is the header.
    sequence_column, label_column : str, optional
        Column names. When not given, the first of :data:`SEQUENCE_COLUMNS` /
        :data:`LABEL_COLUMNS` present in the header is used.
    delimiter : str, optional
        Field separator; default tab for ``.tsv`` files and comma otherwise.

    Returns
    -------
    pandas.DataFrame
        ``sequence`` (str), ``label`` (int64 in ``0..K-1``, every class present) and ``source``
        (``"<path>:<line>"``), one row per data line, in file order. Other columns are dropped.

    Raises
    ------
    ValueError
        Missing file or column, a label that is not a non-negative integer, a sequence with a
        character outside the nucleotide alphabet or an empty one, fewer than two classes. The
        message names the file, the line and the column.
    """
    path = Path(path)
    if delimiter is None:
        delimiter = "\t" if path.name.lower().removesuffix(".gz").endswith(".tsv") else ","
    try:
        handle = open(path, newline="", encoding="utf-8-sig")
    except OSError as err:
        raise ValueError(f"{path}: cannot open the CSV ({err.strerror})") from None
    sequences, labels, sources = [], [], []
    with handle:
        reader = csv.reader(handle, delimiter=delimiter)
        try:
            header = next(reader)
        except StopIteration:
            raise ValueError(f"{path}: the CSV is empty (no header line)") from None
        except (csv.Error, UnicodeDecodeError) as err:
            raise ValueError(f"{path}, line 1: cannot parse the header ({err})") from None
        header = [name.strip() for name in header]
        seq_at = _column_index(path, header, sequence_column, SEQUENCE_COLUMNS, "sequence", "--sequence-column")
        label_at = _column_index(path, header, label_column, LABEL_COLUMNS, "label", "--label-column")
        seq_name, label_name = header[seq_at], header[label_at]
        while True:
            try:
                row = next(reader)
            except StopIteration:
                break
            except (csv.Error, UnicodeDecodeError) as err:
                raise ValueError(f"{path}, line {reader.line_num + 1}: cannot parse the line ({err})") from None
            line = reader.line_num
            if not row or all(not cell.strip() for cell in row):
                continue
            if len(row) <= max(seq_at, label_at):
                raise ValueError(f"{path}, line {line}: has {len(row)} field(s) but the header has {len(header)}; "
                                 f"column {header[max(seq_at, label_at)]!r} is missing")
            where = f"{path}, line {line}, column {seq_name!r}"
            sequences.append(_checked_sequence(row[seq_at].strip(), where))
            labels.append(_checked_label(row[label_at].strip(), f"{path}, line {line}, column {label_name!r}"))
            sources.append(f"{path}:{line}")
    if not sequences:
        raise ValueError(f"{path}: the CSV has a header but no data lines")
    table = pd.DataFrame({"sequence": sequences, "label": np.asarray(labels, dtype=np.int64), "source": sources})
    check_labels(table["label"].to_numpy(), where=f"{path}, column {label_name!r}")
    return table


def load_fasta_classes(paths: Sequence[str | os.PathLike] | Mapping[int, str | os.PathLike]) -> pd.DataFrame:
    """Read one FASTA per class (the Genomic Benchmarks layout).

    Parameters
    ----------
    paths : sequence of paths, or mapping label -> path
        A sequence gives the k-th file label k; a mapping names the label of each file. Files may
        be plain, bgzip or plain gzip (read through :func:`ldarnet.genome.open_fasta`).

    Returns
    -------
    pandas.DataFrame
        ``sequence``, ``label`` (int64), ``source`` (``"<path>:<record name>"``), the records of each
        file in file order, files in label order.

    Raises
    ------
    ValueError
        Fewer than two files, a label used twice or missing from ``0..K-1``, an unreadable or
        empty FASTA, or a record with a character outside the nucleotide alphabet (naming the
        file and the record).
    """
    from ldarnet.genome import open_fasta

    items = sorted(paths.items()) if isinstance(paths, Mapping) else list(enumerate(paths))
    if len(items) < 2:
        raise ValueError(f"need one FASTA per class and at least two classes, got {len(items)} file(s)")
    labels_given = [int(label) for label, _ in items]
    if labels_given != list(range(len(items))):
        raise ValueError(f"class labels must be 0..{len(items) - 1}, one file each; got {labels_given}")
    sequences, labels, sources = [], [], []
    for label, file in items:
        with open_fasta(file, quiet=True) as fasta:
            for name in fasta.keys():
                seq = str(fasta[name][:].seq) if len(fasta[name]) else ""
                sequences.append(_checked_sequence(seq, f"{file}, record {name!r}"))
                labels.append(label)
                sources.append(f"{file}:{name}")
    return pd.DataFrame({"sequence": sequences, "label": np.asarray(labels, dtype=np.int64), "source": sources})


def save_csv(table: pd.DataFrame, path: str | os.PathLike, *, columns: Sequence[str] | None = None) -> Path:
    """Write a labeled table as CSV, atomically (temporary file in the same folder, then rename).

    Parameters
    ----------
    table : pandas.DataFrame
        Must hold ``sequence`` and ``label``; they are written first, then ``columns`` (default:
        every other column of ``table``, e.g. coordinates kept by the task builders).
    path : str or PathLike
        Destination; its folder is created if needed.

    Returns
    -------
    pathlib.Path
        The path written.
    """
    path = Path(path)
    missing = [c for c in ("sequence", "label") if c not in table.columns]
    if missing:
        raise ValueError(f"cannot write {path}: the table has no {', '.join(missing)} column")
    extra = [c for c in table.columns if c not in ("sequence", "label")] if columns is None else list(columns)
    atomic_write(path, lambda tmp: table[["sequence", "label", *extra]].to_csv(tmp, index=False))
    return path


def check_labels(labels: np.ndarray, *, where: str) -> int:
    """Check that ``labels`` (N,) int are the classes ``0..K-1``, each present, K >= 2; return K."""
    present = np.unique(labels)
    if present.size < 2:
        raise ValueError(f"{where}: a classification task needs at least two classes, found only {present.tolist()}")
    expected = np.arange(int(present.max()) + 1)
    if present.size != expected.size:
        absent = sorted(set(expected.tolist()) - set(present.tolist()))
        raise ValueError(f"{where}: labels must be the classes 0..{expected[-1]} with every class present; "
                         f"class(es) {absent} never occur")
    return int(expected.size)


# -- internals ---------------------------------------------------------------------------------

def _column_index(path: Path, header: list[str], wanted: str | None, defaults: tuple[str, ...],
                  what: str, flag: str) -> int:
    if wanted is not None:
        if wanted not in header:
            raise ValueError(f"{path}, line 1: no {what} column {wanted!r}; the header has {header}")
        return header.index(wanted)
    for name in defaults:
        if name in header:
            return header.index(name)
    raise ValueError(f"{path}, line 1: no {what} column (looked for {list(defaults)}); the header has "
                     f"{header}; name the column with {flag}")


def _checked_sequence(seq: str, where: str) -> str:
    if not seq:
        raise ValueError(f"{where}: the sequence is empty")
    match = _VALID.match(seq)
    if match.end() != len(seq):
        pos = match.end()
        raise ValueError(f"{where}: invalid nucleotide {seq[pos]!r} at position {pos} "
                         "(accepted: A, C, G, T, U, N and IUPAC codes, any case)")
    return seq


def _checked_label(text: str, where: str) -> int:
    try:
        value = int(text)
    except ValueError:
        # some benchmark files write classes as floats ("1.0", the iEnhancer CSV); accept whole numbers
        try:
            number = float(text)
        except ValueError:
            number = math.nan
        if not number.is_integer():
            raise ValueError(f"{where}: label {text!r} is not an integer class id (0, 1, ...)") from None
        value = int(number)
    if value < 0:
        raise ValueError(f"{where}: label {value} is negative; class ids are 0, 1, ...")
    return value
