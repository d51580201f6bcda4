"""Open FASTA files for random access, whatever their compression.

pyfaidx does the indexing and the reads. This module only handles what pyfaidx cannot:

- a **plain gzip** FASTA (``gzip file.fa``, not ``bgzip``) cannot be indexed, so it is decompressed
  once into a cache directory, with a message saying so; later calls reuse the cached copy as long
  as the source file's size and modification time are unchanged;
- the ``.fai`` index is built on first use, atomically (a temporary file renamed into place), next
  to the FASTA, or in the cache directory when the FASTA's own directory is read-only;
- every failure (missing file, empty FASTA, malformed FASTA, corrupt gzip) raises one
  :class:`FastaError` naming the file, and nothing half-written is ever left behind.

Coordinates: pyfaidx slices ``fasta[name][start:end]`` are 0-based, half-open.
"""

from __future__ import annotations

import gzip
import hashlib
import os
import shutil
import sys
import tempfile
import zlib
from pathlib import Path

import pyfaidx

__all__ = ["FastaError", "open_fasta", "resolve_fasta", "record_lengths", "fasta_cache_dir"]

_GZIP_MAGIC = b"\x1f\x8b"


class FastaError(ValueError):
    """A FASTA file is missing, empty, malformed or corrupt. The message names the file."""


def fasta_cache_dir(cache_dir: str | os.PathLike | None = None) -> Path:
    """The directory holding decompressed copies and indexes of read-only FASTAs.

    ``cache_dir`` if given, else ``$LDARNET_CACHE_DIR/fasta``, else ``~/.cache/ldarnet/fasta``.
    """
    if cache_dir is not None:
        return Path(cache_dir)
    root = os.environ.get("LDARNET_CACHE_DIR")
    return Path(root) / "fasta" if root else Path.home() / ".cache" / "ldarnet" / "fasta"


def open_fasta(
    path: str | os.PathLike,
    *,
    uppercase: bool = False,
    cache_dir: str | os.PathLike | None = None,
    quiet: bool = False,
) -> pyfaidx.Fasta:
    """Open a FASTA (plain, bgzip or plain gzip) as an indexed :class:`pyfaidx.Fasta`.

    Parameters
    ----------
    path : str or PathLike
        The FASTA file. Plain gzip is decompressed once into the cache (see module doc).
    uppercase : bool
        Return every sequence upper-cased (drops soft-masking). Default False keeps the case,
        so soft-masked repeats stay visible as lowercase.
    cache_dir : str or PathLike, optional
        Where decompressed copies and indexes for read-only directories go; see :func:`fasta_cache_dir`.
    quiet : bool
        Do not print the one-line note when a plain-gzip file is decompressed.

    Returns
    -------
    pyfaidx.Fasta
        ``fa[name][start:end].seq`` reads bases ``start``..``end - 1`` (0-based, half-open);
        ``len(fa[name])`` is the record length. Close it with ``fa.close()`` or a ``with`` block.

    Raises
    ------
    FastaError
        Missing or unreadable file, corrupt gzip, malformed or empty FASTA (no record with any base).
    """
    plain, index = _prepare(Path(path), cache_dir=cache_dir, quiet=quiet)
    try:
        fasta = pyfaidx.Fasta(str(plain), indexname=str(index), sequence_always_upper=uppercase,
                              rebuild=False, build_index=False)
    except (pyfaidx.FastaIndexingError, pyfaidx.FastaNotFoundError, OSError, ValueError) as err:
        raise FastaError(f"{path}: cannot open as FASTA: {err}") from None
    if not fasta.keys() or all(len(fasta[name]) == 0 for name in fasta.keys()):
        fasta.close()
        raise FastaError(f"{path}: the FASTA has no sequence (no record with any base)")
    return fasta


def resolve_fasta(path: str | os.PathLike, *, cache_dir: str | os.PathLike | None = None,
                  quiet: bool = False) -> Path:
    """The path of an uncompressed (or bgzip) copy of ``path`` that pyfaidx can index, with its index built."""
    return _prepare(Path(path), cache_dir=cache_dir, quiet=quiet)[0]


def record_lengths(path: str | os.PathLike, *, cache_dir: str | os.PathLike | None = None) -> dict[str, int]:
    """Record name -> length in bases, in file order."""
    with open_fasta(path, cache_dir=cache_dir, quiet=True) as fasta:
        return {name: len(fasta[name]) for name in fasta.keys()}


# -- internals ---------------------------------------------------------------------------------

def _prepare(path: Path, *, cache_dir, quiet: bool) -> tuple[Path, Path]:
    """Return (indexable FASTA path, .fai path), decompressing and indexing as needed."""
    if not path.exists():
        raise FastaError(f"{path}: FASTA file not found")
    if path.is_dir():
        raise FastaError(f"{path}: is a directory, not a FASTA file")
    try:
        with open(path, "rb") as handle:
            head = handle.read(18)
    except OSError as err:
        raise FastaError(f"{path}: cannot read ({err.strerror})") from None
    if not head:
        raise FastaError(f"{path}: the file is empty")
    cache = fasta_cache_dir(cache_dir)
    plain = path
    if head[:2] == _GZIP_MAGIC and not _is_bgzf(head):
        plain = _decompress_once(path, cache, quiet=quiet)
    index = Path(str(plain) + ".fai")
    if not _writable_dir(plain.parent):
        index = cache / f"{plain.name}.{_source_key(plain)}.fai"
    if not index.exists() or index.stat().st_mtime < plain.stat().st_mtime:
        _build_index(plain, index, shown=path)
    return plain, index


def _is_bgzf(head: bytes) -> bool:
    # BGZF = gzip with the FEXTRA flag and a 'BC' subfield (SAM spec, section 4.1).
    return len(head) >= 14 and head[3] & 4 and head[12:14] == b"BC"


def _writable_dir(directory: Path) -> bool:
    return os.access(directory, os.W_OK | os.X_OK)


def _source_key(path: Path) -> str:
    """Changes whenever the file at ``path`` is replaced or edited."""
    stat = path.stat()
    text = f"{path.resolve()}|{stat.st_size}|{stat.st_mtime_ns}"
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _decompress_once(path: Path, cache: Path, *, quiet: bool) -> Path:
    name = path.name[:-3] if path.name.endswith(".gz") else path.name + ".fa"
    target = cache / f"{_source_key(path)}-{name}"
    if target.exists():
        return target
    if not quiet:
        print(f"note: {path} is plain gzip, which pyfaidx cannot index; decompressing it once to {target}",
              file=sys.stderr)
    _mkdir(cache)
    fd, tmp = tempfile.mkstemp(prefix=f".{name}.", suffix=".part", dir=cache)
    try:
        with os.fdopen(fd, "wb") as out, gzip.open(path, "rb") as src:
            shutil.copyfileobj(src, out, length=1 << 20)
            out.flush()
            os.fsync(out.fileno())
        os.chmod(tmp, 0o644)  # mkstemp makes it private; the cache is shared like the source
        os.replace(tmp, target)
    except (OSError, EOFError, zlib.error) as err:
        Path(tmp).unlink(missing_ok=True)
        if isinstance(err, (EOFError, zlib.error, gzip.BadGzipFile)):
            raise FastaError(f"{path}: corrupt or truncated gzip ({err}); nothing was written") from None
        raise FastaError(f"{path}: cannot decompress into {cache} ({err})") from None
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return target


def _build_index(plain: Path, index: Path, *, shown: Path) -> None:
    """Build ``index`` for ``plain`` with pyfaidx in a temporary file, then rename it into place."""
    _mkdir(index.parent)
    fd, tmp = tempfile.mkstemp(prefix=f".{index.name}.", suffix=".part", dir=index.parent)
    os.close(fd)
    os.unlink(tmp)  # pyfaidx refuses nothing, but it must create the file itself
    try:
        faidx = pyfaidx.Faidx(str(plain), indexname=tmp, rebuild=True, build_index=True)
        faidx.close()
        os.replace(tmp, index)
    except (pyfaidx.FastaIndexingError, pyfaidx.UnsupportedCompressionFormat, ValueError) as err:
        raise FastaError(f"{shown}: not a valid FASTA: {err}") from None
    except (OSError, EOFError, zlib.error) as err:
        raise FastaError(f"{shown}: cannot index ({err})") from None
    finally:
        Path(tmp).unlink(missing_ok=True)


def _mkdir(directory: Path) -> None:
    try:
        directory.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise FastaError(f"cannot create the FASTA cache directory {directory} ({err.strerror}); "
                         "set LDARNET_CACHE_DIR to a writable folder") from None
