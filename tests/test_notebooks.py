"""The committed notebooks: built from notebooks/build_notebooks.py, executed, and still reproducing their outputs.

The nbval run re-executes each notebook in a fresh kernel (working directory ``notebooks/``) and
compares every output with the committed one, after ``notebooks/nbval_sanitize.cfg`` masks
timestamps, absolute paths and float noise: a change that moves a reported number fails here.
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
#: names that mean a standard parameter (checkpoint, fasta, annotation, out_dir, seed, jaspar_release, max_sites)
SYNONYMS = {"model_path", "ckpt", "checkpoint_dir", "genome", "fa", "fasta_path", "gff", "gtf", "gff3", "output_dir",
            "outdir", "out_path", "release", "jaspar", "random_seed", "rng_seed", "n_sites", "num_sites"}


def _builder():
    spec = importlib.util.spec_from_file_location("build_notebooks", NOTEBOOK_DIR / "build_notebooks.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _ids(paths):
    return [p.stem for p in paths]


def test_there_are_notebooks_and_the_builder_knows_them_all():
    assert NOTEBOOKS, "no notebooks/NN_*.ipynb committed"
    assert sorted(_builder().NOTEBOOKS) == [p.stem for p in NOTEBOOKS]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=_ids(NOTEBOOKS))
def test_notebook_is_built_from_its_source_and_committed_executed(path):
    import papermill

    nb = nbformat.read(path, as_version=4)
    nbformat.validate(nb)
    assert nb.metadata["kernelspec"]["name"] == "python3"
    built = _builder().build(path.stem)
    assert [c.source for c in nb.cells] == [c.source for c in built.cells], \
        f"{path.name} differs from notebooks/build_notebooks.py: rerun `python notebooks/build_notebooks.py --execute {path.stem}`"
    tagged = [c for c in nb.cells if "parameters" in c.metadata.get("tags", [])]
    assert len(tagged) == 1, "exactly one cell tagged 'parameters'"
    declared = set(papermill.inspect_notebook(str(path)))
    assert "out_dir" in declared, "every notebook takes out_dir (its figures and summary.json go there)"
    assert not declared & SYNONYMS, f"use the standard parameter names instead of {sorted(declared & SYNONYMS)}"
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert all(c.execution_count is not None for c in code), "commit the notebook executed (build_notebooks.py --execute)"
    assert not any(o.output_type == "error" for c in code for o in c.outputs)
    text = nbformat.writes(nb)
    for machine_path in {str(REPO), str(Path.home()), "/tmp/"}:
        assert machine_path not in text, f"{path.name} holds the absolute path {machine_path}"


@pytest.mark.slow
@pytest.mark.parametrize("path", NOTEBOOKS, ids=_ids(NOTEBOOKS))
def test_notebook_reproduces_its_committed_outputs_under_nbval(path):
    cmd = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--nbval", "--nbval-current-env",
           "--nbval-sanitize-with", str(SANITIZE), "--nbval-cell-timeout", "1200", str(path)]
    done = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=1800)
    assert done.returncode == 0, f"nbval failed on {path.name}:\n{done.stdout[-6000:]}\n{done.stderr[-2000:]}"
    assert " passed" in done.stdout
