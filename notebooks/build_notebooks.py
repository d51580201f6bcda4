"""Write the workbench notebooks from their cell sources (``nbNN_*.py``), and optionally run them in place.

    python notebooks/build_notebooks.py                      # (re)write every notebook, without outputs
    python notebooks/build_notebooks.py --execute            # ... and run each here, keeping its outputs
    python notebooks/build_notebooks.py --execute 01_quickstart

The committed notebooks are the ``--execute`` output: nbval (tests/test_notebooks.py) re-runs them
and compares against those outputs. Each runs with ``notebooks/`` as working directory, so paths
stay relative; cell timings are not recorded, so a re-run changes only what really changed.

Adding a notebook is a module ``nbNN_name.py`` with a ``CELLS`` list (cells made with ``md``,
``code`` and ``parameters`` from ``cells.py``) and one entry in ``NOTEBOOKS``. Use the standard parameter names where they apply:
``checkpoint, fasta, annotation, out_dir, seed, device, jaspar_release, max_sites``; every notebook
writes its figures and a ``summary.json`` into ``out_dir`` (see ``ldarviz.workbench``).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import nbformat

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))  # the cell sources (cells.py, nbNN_*.py) live beside this file

import nb01_quickstart  # noqa: E402
import nb02_pretraining  # noqa: E402
import nb03_motif_profiles  # noqa: E402
import nb04_splice_controls  # noqa: E402
import nb05_token_lengths  # noqa: E402
import nb06_ablations  # noqa: E402
import nb07_finetuning  # noqa: E402


#: notebook stem -> cells; the order here is the order the workbench runs them in (by stem)
NOTEBOOKS = {
    "01_quickstart": nb01_quickstart.CELLS,
    "02_pretraining": nb02_pretraining.CELLS,
    "03_motif_profiles": nb03_motif_profiles.CELLS,
    "04_splice_controls": nb04_splice_controls.CELLS,
    "05_token_lengths": nb05_token_lengths.CELLS,
    "06_ablations": nb06_ablations.CELLS,
    "07_finetuning": nb07_finetuning.CELLS,
}


def build(name: str):
    """The notebook ``name`` as an nbformat node, without outputs."""
    nb = nbformat.v4.new_notebook(cells=[nbformat.from_dict(dict(c)) for c in NOTEBOOKS[name]])
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3 (ipykernel)", "language": "python"}
    nb.metadata["language_info"] = {"name": "python"}
    for k, cell in enumerate(nb.cells):
        cell["id"] = f"{name[:2]}-{k:02d}"  # stable ids keep diffs small
    return nb


def execute(nb, timeout: int = 1800):
    """Run ``nb`` in a ``python3`` kernel with ``notebooks/`` as working directory, outputs kept."""
    from nbclient import NotebookClient

    NotebookClient(nb, timeout=timeout, kernel_name="python3", record_timing=False,
                   resources={"metadata": {"path": str(HERE)}}).execute()
    return nb


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("names", nargs="*", help=f"notebooks to write (default: all of {', '.join(NOTEBOOKS)})")
    parser.add_argument("--execute", action="store_true", help="run each notebook in place and keep its outputs")
    args = parser.parse_args(argv)
    unknown = [n for n in args.names if n not in NOTEBOOKS]
    if unknown:
        parser.error(f"unknown notebook {unknown[0]!r}; have {', '.join(NOTEBOOKS)}")
    for name in args.names or NOTEBOOKS:
        nb = build(name)
        if args.execute:
            execute(nb)
        target = HERE / f"{name}.ipynb"
        tmp = target.with_suffix(".ipynb.tmp")
        nbformat.write(nb, tmp)
        tmp.replace(target)
        print(f"wrote {target.relative_to(HERE.parent)}" + (" (executed)" if args.execute else ""))
    return 0


if __name__ == "__main__":
    sys.exit(main())
