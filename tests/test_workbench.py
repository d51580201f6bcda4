"""The papermill batch (``python -m ldarviz.workbench``) on throwaway notebooks: one fails, one passes."""

from __future__ import annotations

import json
import re
from pathlib import Path

import nbformat
import numpy as np
import pytest

import argparse

from ldarviz.workbench import display_path, find_notebooks, main, parse_value, register, run, write_summary


def notebook(path: Path, params: str, *cells: str) -> Path:
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    first = nbformat.v4.new_code_cell(params)
    first.metadata["tags"] = ["parameters"]
    nb.cells = [first] + [nbformat.v4.new_code_cell(c) for c in cells]
    nbformat.write(nb, path)
    return path


@pytest.fixture()
def notebooks(tmp_path):
    folder = tmp_path / "nbs"
    folder.mkdir()
    notebook(folder / "01_fails.ipynb", 'out_dir = "unset"', "print('before the error')",
             "raise ValueError('boom from the test notebook')", "print('never reached')")
    notebook(folder / "02_passes.ipynb", 'out_dir = "unset"\nseed = 0\nlabel = "default"',
             """
import matplotlib
matplotlib.use("Agg")
import matplotlib.pyplot as plt
from pathlib import Path
from ldarviz.workbench import write_summary
fig, ax = plt.subplots()
ax.plot([0, 1], [seed, seed])
fig.savefig(Path(out_dir) / "line.png")
write_summary(out_dir, {"seed": seed, "label": label, "cwd": str(Path.cwd())})
""")
    (folder / "scratch.ipynb").write_text((folder / "02_passes.ipynb").read_text())  # not NN_*: not run
    return folder


def test_failing_notebook_does_not_stop_the_batch(notebooks, tmp_path, capsys):
    out = tmp_path / "reports"
    rc = main(["--out", str(out), "--notebooks", str(notebooks), "-p", "seed", "7", "--run-id", "r1"])
    printed = capsys.readouterr().out
    assert rc == 1
    assert re.search(r"2 notebooks in \d+ min [\d.]+ s: 1 ok, 1 failed: 01_fails", printed)
    run = out / "r1"
    record = json.loads((run / "run.json").read_text())
    by_name = {r["name"]: r for r in record["notebooks"]}
    assert [r["name"] for r in record["notebooks"]] == ["01_fails", "02_passes"]
    failed, passed = by_name["01_fails"], by_name["02_passes"]
    assert failed["status"] == "failed" and "ValueError: boom from the test notebook" in failed["error"]
    assert (run / "01_fails" / "01_fails.ipynb").is_file()  # the executed copy shows where it stopped
    assert passed["status"] == "ok" and passed["error"] is None and passed["seconds"] > 0
    # -p reached the notebook that declares it; out_dir is the notebook's own report folder; cwd is its folder
    summary = json.loads((run / "02_passes" / "summary.json").read_text())
    assert summary == {"seed": 7, "label": "default", "cwd": str(notebooks)}
    assert passed["parameters"] == {"seed": 7, "out_dir": str((run / "02_passes").resolve())}
    assert failed["parameters"] == {"out_dir": str((run / "01_fails").resolve())}  # it declares no seed
    assert passed["figures"] == ["02_passes/line.png"]
    executed = nbformat.read(run / "02_passes" / "02_passes.ipynb", as_version=4)
    assert "injected-parameters" in executed.cells[1].metadata["tags"]
    page = (run / "index.html").read_text()
    for link in ("02_passes/02_passes.ipynb", "02_passes/02_passes.html", "02_passes/line.png",
                 "02_passes/summary.json", "01_fails/01_fails.ipynb", "run.json"):
        assert f'href="{link}"' in page
        assert (run / link).is_file()
    assert "boom from the test notebook" in page and "1 failed: 01_fails" in page
    assert '<section class="failed"><h2>01_fails' in page and '<section class="ok"><h2>02_passes' in page


def test_only_runs_the_named_notebook_and_errors_are_one_line(notebooks, tmp_path, capsys):
    out = tmp_path / "reports"
    assert main(["--out", str(out), "--notebooks", str(notebooks), "--only", "passes", "--no-html", "--run-id", "x"]) == 0
    assert "1 notebooks in" in capsys.readouterr().out
    assert sorted(p.name for p in (out / "x").iterdir()) == ["02_passes", "index.html", "run.json"]
    assert not (out / "x" / "02_passes" / "02_passes.html").exists()
    # a second run with the same id gets its own folder
    assert main(["--out", str(out), "--notebooks", str(notebooks), "--only", "02", "--no-html", "--run-id", "x"]) == 0
    assert (out / "x-2" / "index.html").is_file()

    for argv, message in (
        (["--only", "nope"], "--only nope: no such notebook"),
        (["-p", "sed", "1"], "-p sed: no selected notebook declares this parameter"),
        (["-p", "not-a-name", "1"], "-p not-a-name: not a parameter name"),
    ):
        capsys.readouterr()
        assert main(["--out", str(out), "--notebooks", str(notebooks), *argv]) == 2
        err = capsys.readouterr().err
        assert err.startswith("error: ") and message in err and err.count("\n") == 1
    assert main(["--out", str(out), "--notebooks", str(tmp_path / "missing")]) == 2


def test_find_notebooks_and_parse_value(notebooks, tmp_path):
    assert [p.name for p in find_notebooks(notebooks)] == ["01_fails.ipynb", "02_passes.ipynb"]
    assert [p.stem for p in find_notebooks(notebooks, ["02_passes", "01"])] == ["01_fails", "02_passes"]
    with pytest.raises(ValueError, match="no NN_"):
        find_notebooks(tmp_path)
    assert parse_value("3") == 3 and parse_value("0.5") == 0.5 and parse_value("None") is None
    assert parse_value("[1, 2]") == [1, 2] and parse_value("cpu") == "cpu" and parse_value("../data/x.fa") == "../data/x.fa"


def test_write_summary_and_display_path(tmp_path, monkeypatch):
    path = write_summary(tmp_path / "out", {"n": np.int64(3), "p": np.float32(0.25), "v": np.arange(2), "f": tmp_path})
    assert json.loads(path.read_text()) == {"f": str(tmp_path), "n": 3, "p": 0.25, "v": [0, 1]}
    assert not list((tmp_path / "out").glob("*.tmp"))
    (tmp_path / "repo" / "notebooks").mkdir(parents=True)
    (tmp_path / "repo" / "data").mkdir()
    monkeypatch.chdir(tmp_path / "repo" / "notebooks")
    assert display_path(tmp_path / "repo" / "data" / "a.fa") == "../data/a.fa"
    assert display_path("/somewhere/else/a.fa") == "/somewhere/else/a.fa"


def test_register_adds_a_workbench_subcommand():
    parser = argparse.ArgumentParser(prog="ldarnet")
    register(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["workbench", "--only", "01", "-p", "seed", "3", "-p", "device", "cpu"])
    assert args.func is run and args.only == ["01"] and args.parameter == [["seed", "3"], ["device", "cpu"]]
    assert args.out == "reports" and args.notebooks == "notebooks" and args.kernel == "python3"


@pytest.mark.slow  # a kernel in a subprocess: about a minute on the shared 2-core machine
def test_command_line_shows_cell_progress_and_no_kernel_transport_warning(notebooks, tmp_path):
    import subprocess
    import sys

    done = subprocess.run([sys.executable, "-m", "ldarviz.workbench", "--out", str(tmp_path / "r"), "--notebooks",
                           str(notebooks), "--only", "02", "--no-html", "--run-id", "p"],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    output = done.stdout + done.stderr
    assert "02_passes: running ..." in done.stdout and "02_passes: ok in" in done.stdout
    # papermill's bar, one step per cell (its injected parameters cell included)
    assert re.search(r"02_passes: 100%.*3/3 \[", done.stderr), done.stderr
    assert "without encryption" not in output and "WARNING" not in output
    assert not [p.name for p in notebooks.iterdir() if "ipc" in p.name]  # the kernel's sockets lived elsewhere


REPO = Path(__file__).resolve().parents[1]


@pytest.mark.slow  # a kernel in a subprocess: about a minute on the shared 2-core machine
def test_a_missing_checkpoint_fails_the_notebook_instead_of_random_weights(tmp_path):
    """The real 07 notebook (it used to fine-tune random weights for minutes): it fails in its first cell."""
    import subprocess
    import sys

    missing = tmp_path / "nonexistent"
    done = subprocess.run([sys.executable, "-m", "ldarviz.workbench", "--out", str(tmp_path / "r"), "--only", "07",
                           "--no-html", "--quiet", "--run-id", "m", "-p", "checkpoint", str(missing)],
                          cwd=REPO, capture_output=True, text=True, timeout=300)
    assert done.returncode == 1, done.stdout + done.stderr
    assert "1 failed: 07_finetuning" in done.stdout
    record = json.loads((tmp_path / "r" / "m" / "run.json").read_text())["notebooks"][0]
    assert record["status"] == "failed" and record["summary"] is None
    assert re.search(r"FileNotFoundError: checkpoint .*nonexistent: no such folder", record["error"])
    page = (tmp_path / "r" / "m" / "index.html").read_text()
    assert '<section class="failed"><h2>07_finetuning' in page and f"{missing}: no such folder" in page
