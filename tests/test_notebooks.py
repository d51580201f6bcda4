"""The committed notebooks: jupytext pairs in sync, committed executed, and still reproducing their outputs.

Each notebook is a pair: ``notebooks/NN_name.py`` (py:percent, the source a person edits) and
``notebooks/NN_name.ipynb`` (the same cells, executed, with outputs). JupyterLab with jupytext
keeps the two in sync on save; after editing the ``.py`` elsewhere, ``jupytext --sync`` does.

The nbval run re-executes each notebook in a fresh kernel (working directory ``notebooks/``) and
compares every output with the committed one, after ``notebooks/nbval_sanitize.cfg`` masks
timestamps and absolute paths; ``notebooks/conftest.py`` lets decimal numbers differ within the
precision a scientist reports (other CPUs round differently), so a change that moves a reported
number, a count, a word or a verdict fails here.
"""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

REPO = Path(__file__).resolve().parents[1]
NOTEBOOK_DIR = REPO / "notebooks"
SANITIZE = NOTEBOOK_DIR / "nbval_sanitize.cfg"
NOTEBOOKS = sorted(NOTEBOOK_DIR.glob("[0-9][0-9]_*.ipynb"))
PAIR_FORMAT = "ipynb,py:percent"
#: names that mean a standard parameter (checkpoint, fasta, annotation, out_dir, seed, jaspar_release, max_sites)
SYNONYMS = {"model_path", "ckpt", "checkpoint_dir", "genome", "fa", "fasta_path", "gff", "gtf", "gff3", "output_dir",
            "outdir", "out_path", "release", "jaspar", "random_seed", "rng_seed", "n_sites", "num_sites"}


def _ids(paths):
    return [p.stem for p in paths]


def _tolerance():
    """notebooks/conftest.py as a plain module (pytest loads it as a conftest only when it collects notebooks)."""
    spec = importlib.util.spec_from_file_location("notebook_conftest", NOTEBOOK_DIR / "conftest.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def assert_in_sync(ipynb: Path, source: Path) -> None:
    """Raise when the cells of ``ipynb`` and its py:percent ``source`` differ, as jupytext reads them."""
    import jupytext
    from jupytext.compare import compare_notebooks

    compare_notebooks(nbformat.read(ipynb, as_version=4), jupytext.read(source), fmt="py:percent")


def test_every_notebook_is_a_pair_and_the_cell_string_modules_are_gone():
    assert NOTEBOOKS, "no notebooks/NN_*.ipynb committed"
    sources = sorted(NOTEBOOK_DIR.glob("[0-9][0-9]_*.py"))
    assert _ids(sources) == _ids(NOTEBOOKS), "every NN_name.ipynb has its NN_name.py source and vice versa"
    assert not list(NOTEBOOK_DIR.glob("nb[0-9][0-9]_*.py")) and not (NOTEBOOK_DIR / "build_notebooks.py").exists()


@pytest.mark.parametrize("path", NOTEBOOKS, ids=_ids(NOTEBOOKS))
def test_notebook_and_its_source_are_in_sync_and_committed_executed(path):
    import papermill

    assert_in_sync(path, path.with_suffix(".py"))
    nb = nbformat.read(path, as_version=4)
    nbformat.validate(nb)
    assert nb.metadata["kernelspec"]["name"] == "python3"
    assert nb.metadata.get("jupytext", {}).get("formats") == PAIR_FORMAT, "pair it: jupytext --set-formats ipynb,py:percent"
    tagged = [c for c in nb.cells if "parameters" in c.metadata.get("tags", [])]
    assert len(tagged) == 1, "exactly one cell tagged 'parameters'"
    declared = set(papermill.inspect_notebook(str(path)))
    assert "out_dir" in declared, "every notebook takes out_dir (its figures and summary.json go there)"
    assert not declared & SYNONYMS, f"use the standard parameter names instead of {sorted(declared & SYNONYMS)}"
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert all(c.execution_count is not None for c in code), \
        f"commit the notebook executed: jupytext --to ipynb --update --execute {path.with_suffix('.py').relative_to(REPO)}"
    assert not any(o.output_type == "error" for c in code for o in c.outputs)
    text = nbformat.writes(nb)
    for machine_path in {str(REPO), str(Path.home()), "/tmp/"}:
        assert machine_path not in text, f"{path.name} holds the absolute path {machine_path}"


def test_the_sync_check_catches_an_edit_on_either_side(tmp_path):
    import jupytext

    from jupytext.compare import NotebookDifference

    original = NOTEBOOKS[0]
    ipynb, source = tmp_path / original.name, tmp_path / original.with_suffix(".py").name
    ipynb.write_text(original.read_text())
    source.write_text(original.with_suffix(".py").read_text())
    assert_in_sync(ipynb, source)
    edited = jupytext.read(source)
    code = next(c for c in edited.cells if c.cell_type == "code" and "parameters" not in c.metadata.get("tags", []))
    code.source += "\nprint('edited in an editor')"
    jupytext.write(edited, source, fmt="py:percent")
    with pytest.raises(NotebookDifference):
        assert_in_sync(ipynb, source)


@pytest.mark.parametrize(("stored", "new", "agree"), [
    ("p = 0.2977, adjusted 1", "p = 0.2967, adjusted 1", True),  # 03 on AVX2 vs AVX-512
    ("pretrained  0.601  0.012", "pretrained  0.594  0.012", True),  # 07's MCC on AVX2 vs AVX-512
    ("<td>1.2641</td>", "<td>1.2643</td>", True),
    ("p = 3e-05", "p = 2.9e-05", True),
    ("p = 0.002", "p = 0.011", False),  # a p-value that moved from significant to not
    ("MCC 0.60", "MCC 0.55", False),
    ("91 chunks", "92 chunks", False),  # counts are exact
    ("peak at offset +3", "peak at offset +4", False),
    ("-> no enrichment beyond the controls", "-> boundaries peak at this motif beyond all controls", False),
    ("enrichment 1.02 (n = 120)", "enrichment 1.02 (n = 120) extra", False),
    ("MA0108.3_TBP 0.5", "MA0108.4_TBP 0.5", False),  # numbers inside names are text
    ("value nan", "value 0.1", False),
])
def test_nbval_compares_numbers_at_reporting_precision(stored, new, agree):
    assert _tolerance().numbers_agree(stored, new) is agree


def test_a_cell_tag_widens_the_absolute_tolerance_of_that_cell_only():
    tolerance = _tolerance()
    assert tolerance.cell_atol(None) == tolerance.cell_atol(["parameters"]) == tolerance.ATOL
    assert tolerance.cell_atol(["nbval-atol=0.03"]) == 0.03
    stored, new = "pretrained  0.601  0.045  2", "pretrained  0.589  0.063  2"  # 07 with 2 threads vs 1
    assert not tolerance.numbers_agree(stored, new)
    assert tolerance.numbers_agree(stored, new, atol=0.03)
    assert not tolerance.numbers_agree(stored, "pretrained  0.589  0.063  3", atol=0.03)  # counts stay exact


@pytest.mark.slow
@pytest.mark.parametrize("path", NOTEBOOKS, ids=_ids(NOTEBOOKS))
def test_notebook_reproduces_its_committed_outputs_under_nbval(path):
    cmd = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--nbval", "--nbval-current-env",
           "--nbval-sanitize-with", str(SANITIZE), "--nbval-cell-timeout", "1200", str(path)]
    done = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=1800)
    assert done.returncode == 0, f"nbval failed on {path.name}:\n{done.stdout[-6000:]}\n{done.stderr[-2000:]}"
    assert " passed" in done.stdout
