"""Open FASTA files for random access, whatever their compression.

pyfaidx does the indexing and the reads. This module only handles what pyfaidx cannot:

- a **plain gzip** FASTA (``gzip file.fa``, not ``bgzip``) cannot be indexed, so it is decompressed
  once into a cache directory, with a message saying so; later calls reuse the cached copy as long
  as the source file's size and modification time are unchanged;
- a **bgzip** FASTA is read in place by pyfaidx (it needs a ``.gzi`` block index besides the ``.fai``);
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
import stat
import sys
import zlib
from pathlib import Path

import pyfaidx

from ..io import atomic_write

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
        fasta = pyfaidx.Fasta(str(plain), indexname=str(index), gzi_indexname=_gzi_for(index),
                              sequence_always_upper=uppercase, rebuild=False, build_index=False)
    except (pyfaidx.FastaIndexingError, pyfaidx.FastaNotFoundError, OSError, ValueError) as err:
        raise _duplicate_error(plain, Path(path), err) or FastaError(f"{path}: cannot open as FASTA: {err}") from None
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
    gzi = _gzi_for(index)
    stale = not index.exists() or index.stat().st_mtime < plain.stat().st_mtime
    if stale or (_is_bgzf(head) and not Path(gzi).exists()):
        _build_index(plain, index, shown=path)
    return plain, index


def _is_bgzf(head: bytes) -> bool:
    # BGZF = gzip with the FEXTRA flag and a 'BC' subfield (SAM spec, section 4.1).
    return len(head) >= 14 and head[3] & 4 and head[12:14] == b"BC"


def _writable_dir(directory: Path) -> bool:
    # os.access says yes to root even for an r-x folder; honour the mode bits so that shared,
    # read-only data folders never get index files written into them.
    try:
        mode = directory.stat().st_mode
    except OSError:
        return False
    return bool(mode & stat.S_IWUSR) and os.access(directory, os.W_OK | os.X_OK)


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

    def decompress(tmp: str) -> None:
        with open(tmp, "wb") as out, gzip.open(path, "rb") as src:
            shutil.copyfileobj(src, out, length=1 << 20)

    try:
        atomic_write(target, decompress)
    except (OSError, EOFError, zlib.error) as err:
        if isinstance(err, (EOFError, zlib.error, gzip.BadGzipFile)):
            raise FastaError(f"{path}: corrupt or truncated gzip ({err}); nothing was written") from None
        raise FastaError(f"{path}: cannot decompress into {cache} ({err})") from None
    return target


def _gzi_for(index: Path) -> str:
    """The BGZF block index that goes with ``index`` (pyfaidx only uses it for bgzip files)."""
    return str(index)[: -len(".fai")] + ".gzi"


def _build_index(plain: Path, index: Path, *, shown: Path) -> None:
    """Build ``index`` (and the .gzi of a bgzip file) with pyfaidx under temporary names, then rename."""
    _mkdir(index.parent)
    tmp = str(index.parent / f".{index.name}.{os.getpid()}.{os.urandom(4).hex()}.part")
    tmp_gzi = tmp[: -len(".part")] + ".gzi.part"
    try:
        # pyfaidx reuses an index that merely exists, so the temporary names must not exist yet
        faidx = pyfaidx.Faidx(str(plain), indexname=tmp, gzi_indexname=tmp_gzi, rebuild=True, build_index=True)
        faidx.close()
        if Path(tmp_gzi).exists():
            os.replace(tmp_gzi, _gzi_for(index))
        os.replace(tmp, index)
    except (pyfaidx.FastaIndexingError, pyfaidx.UnsupportedCompressionFormat, ValueError) as err:
        raise _duplicate_error(plain, shown, err) or FastaError(f"{shown}: not a valid FASTA: {err}") from None
    except (OSError, EOFError, zlib.error) as err:
        raise FastaError(f"{shown}: cannot index ({err})") from None
    finally:
        Path(tmp).unlink(missing_ok=True)
        Path(tmp_gzi).unlink(missing_ok=True)


def _duplicate_error(plain: Path, shown: Path, err: Exception) -> FastaError | None:
    """For pyfaidx's 'Duplicate key' error: a FastaError naming the file and both header lines."""
    if "Duplicate key" not in str(err):
        return None
    with open(plain, "rb") as handle:
        opener = gzip.open if _is_bgzf(handle.read(18)) else open
    first: dict[str, int] = {}
    try:
        with opener(plain, "rb") as handle:
            for number, line in enumerate(handle, start=1):
                if not line.startswith(b">"):
                    continue
                words = line[1:].split()
                name = words[0].decode("utf-8", "replace") if words else ""
                if name in first:
                    return FastaError(f"{shown}, line {number}: duplicate record name {name!r} "
                                      f"(first used on line {first[name]}); FASTA record names must be unique")
                first[name] = number
    except (OSError, EOFError, zlib.error):
        pass
    return FastaError(f"{shown}: duplicate record names ({err}); FASTA record names must be unique")


def _mkdir(directory: Path) -> None:
    try:
        directory.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise FastaError(f"cannot create the FASTA cache directory {directory} ({err.strerror}); "
                         "set LDARNET_CACHE_DIR to a writable folder") from None
