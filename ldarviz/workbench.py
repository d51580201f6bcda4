"""The main job: run every notebook with papermill into ``reports/<run-id>/`` and index the results.

``python -m ldarviz.workbench [--out reports] [--notebooks notebooks] [--only NAME ...] [-p KEY VALUE ...]``

Every ``notebooks/NN_*.ipynb`` runs in its own kernel (``python3``) with its folder as working
directory, so the notebooks' relative default paths hold. Each gets ``out_dir`` =
``reports/<run-id>/<notebook-stem>/`` as a parameter and writes its figures and ``summary.json``
there; the executed copy (and an HTML rendering of it) lands beside them. ``-p`` parameters go to
the notebooks whose ``parameters`` cell declares them; a relative ``checkpoint``, ``fasta`` or
``annotation`` that exists relative to the folder the command runs in is passed as an absolute path
(the notebooks run in their own folder, where it would not be found). A failing notebook does not stop the others:
``reports/<run-id>/index.html`` links every notebook with its status and time, and the command then
exits 1 naming the failures. Mistakes in the command line itself exit 2 with one ``error:`` line.
A checkpoint given with ``-p checkpoint PATH`` that does not exist or does not load fails every
notebook that loads a model (``ldarviz.load_model``), in its first cell; ``-p checkpoint untrained``
runs them on random weights on purpose. While a notebook runs, papermill's per-cell progress bar
goes to stderr (``--quiet``: only the line per notebook).

The notebooks import :func:`write_summary` and :func:`display_path` from here.
"""

from __future__ import annotations

import argparse
import ast
import datetime as _dt
import html
import json
import os
import re
import sys
import tempfile
import time
from pathlib import Path

from ldarnet import atomic_write_text

NOTEBOOK_NAME = re.compile(r"^\d{2}_.+\.ipynb$")
#: the parameter names the notebooks share, where they apply
STANDARD_PARAMETERS = ("checkpoint", "fasta", "annotation", "out_dir", "seed", "device", "jaspar_release", "max_sites")
#: parameters that name an input file or folder
PATH_PARAMETERS = ("checkpoint", "fasta", "annotation")
FIGURE_SUFFIXES = (".png", ".svg", ".jpg", ".jpeg", ".pdf")


# -- helpers the notebooks use -------------------------------------------------------------------

def _plain(value):
    """JSON-able copy: numpy scalars and arrays to Python, paths to str, tuples to lists."""
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if hasattr(value, "tolist"):
        return _plain(value.tolist())
    if isinstance(value, os.PathLike):
        return str(value)
    return value


def write_summary(out_dir: str | os.PathLike, summary: dict) -> Path:
    """Write ``summary`` (a notebook's key numbers) to ``out_dir/summary.json``, atomically.

    numpy values become plain numbers; keys are sorted so runs diff cleanly. Returns the path.
    """
    path = Path(out_dir) / "summary.json"
    atomic_write_text(path, json.dumps(_plain(summary), indent=2, sort_keys=True, allow_nan=True) + "\n")
    return path


def display_path(path: str | os.PathLike, start: str | os.PathLike = ".") -> str:
    """``path`` relative to ``start`` when it lies below ``start``'s parent, else as given.

    Notebook outputs show paths through this, so committed outputs carry no machine's folders.
    """
    text = str(path)
    try:
        rel = os.path.relpath(Path(path).resolve(), Path(start).resolve())
    except ValueError:
        return text
    return text if rel.startswith(os.pardir + os.sep + os.pardir) else rel


# -- running --------------------------------------------------------------------------------------

def find_notebooks(folder: str | os.PathLike, only=()) -> list[Path]:
    """The ``NN_*.ipynb`` notebooks of ``folder``, sorted; ``only`` keeps those whose stem equals or
    starts with one of its names (``"01"``, ``"01_quickstart"``) or whose name after ``NN_`` equals it."""
    folder = Path(folder)
    if not folder.is_dir():
        raise ValueError(f"--notebooks {folder}: not a folder")
    found = sorted(p for p in folder.iterdir() if NOTEBOOK_NAME.match(p.name))
    if not found:
        raise ValueError(f"--notebooks {folder}: no NN_*.ipynb notebooks in it")
    if not only:
        return found
    chosen = []
    for name in only:
        match = [p for p in found if p.stem == name or p.stem.startswith(name) or p.stem[3:] == name]
        if not match:
            raise ValueError(f"--only {name}: no such notebook in {folder} (have {', '.join(p.stem for p in found)})")
        chosen += [p for p in match if p not in chosen]
    return sorted(chosen)


def parse_value(text: str):
    """A ``-p`` value: a Python literal (``3``, ``0.5``, ``None``, ``True``, ``[1, 2]``) or else the string."""
    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError):
        return text


def resolve_paths(parameters: dict, start: str | os.PathLike = ".") -> dict:
    """``parameters`` with each relative :data:`PATH_PARAMETERS` value that exists relative to ``start``
    made absolute; anything else (``untrained``, a path that exists only relative to the notebooks'
    folder, a missing path, which the notebook then reports) is passed on as given."""
    out = dict(parameters)
    for key in PATH_PARAMETERS:
        value = out.get(key)
        if (isinstance(value, str) and value.strip() and value.strip().lower() != "untrained"
                and not os.path.isabs(value) and (Path(start) / value).exists()):
            out[key] = str((Path(start) / value).resolve())
    return out


def declared_parameters(notebook: Path) -> set[str]:
    """Names assigned in the notebook's cell tagged ``parameters`` (papermill's own reading)."""
    import papermill

    return set(papermill.inspect_notebook(str(notebook)))


def _figures(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.suffix.lower() in FIGURE_SUFFIXES and p.is_file())


def _to_html(notebook: Path) -> str | None:
    """Render an executed notebook to ``.html`` beside it; None when nbconvert is missing or fails."""
    try:
        import nbformat
        from nbconvert import HTMLExporter

        body, _ = HTMLExporter().from_notebook_node(nbformat.read(notebook, as_version=4))
    except Exception:  # the report stays useful without the rendering
        return None
    target = notebook.with_suffix(".html")
    atomic_write_text(target, body)
    return target.name


def _kernel_config(socket_dir: str):
    """Kernels talk to the workbench over IPC: Unix sockets in ``socket_dir`` (a private temporary folder).

    Over the default TCP transport ipykernel warns that the connection is unencrypted; on one
    machine IPC is the transport jupyter_client supports for that, and the warning does not apply.
    The socket path is absolute: jupyter_client's default (``kernel-ipc-N``) is relative to the
    working directory and would leave sockets in the notebooks' folder if the run were killed.
    """
    from traitlets.config import Config

    config = Config()
    if os.name == "posix":  # IPC needs Unix domain sockets
        config.KernelManager.transport = "ipc"
        config.KernelManager.ip = os.path.join(socket_dir, "kernel")
    return config


def run_notebook(notebook: Path, out_dir: Path, parameters: dict, *, kernel: str = "python3",
                 timeout: float | None = None, render: bool = True, progress=None) -> dict:
    """Execute one notebook with papermill; never raises for a failure inside the notebook.

    ``progress``: a text stream for papermill's per-cell progress bar (None: no bar).

    Returns a record: ``name, status ("ok" or "failed"), seconds, error, notebook`` (the executed
    copy, relative to the run folder), ``html``, ``figures``, ``summary`` (the parsed summary.json
    or None) and the ``parameters`` passed.
    """
    import papermill

    out_dir.mkdir(parents=True, exist_ok=True)
    executed = out_dir / notebook.name
    record = {"name": notebook.stem, "status": "ok", "error": None, "parameters": parameters}
    start = time.perf_counter()
    try:
        with tempfile.TemporaryDirectory(prefix="ldarviz-kernel-") as sockets:
            papermill.execute_notebook(str(notebook), str(executed), parameters=parameters, kernel_name=kernel,
                                       cwd=str(notebook.parent), execution_timeout=timeout, config=_kernel_config(sockets),
                                       progress_bar={"desc": notebook.stem, "unit": "cell", "file": progress} if progress else False)
    except papermill.PapermillExecutionError as err:
        record.update(status="failed", error=f"cell {err.exec_count}: {err.ename}: {err.evalue}")
    except Exception as err:  # kernel death, timeout, unreadable notebook: recorded, the batch goes on
        record.update(status="failed", error=f"{type(err).__name__}: {err}")
    record["seconds"] = round(time.perf_counter() - start, 2)
    record["notebook"] = f"{out_dir.name}/{executed.name}" if executed.is_file() else None
    rendered = _to_html(executed) if render and executed.is_file() else None
    record["html"] = f"{out_dir.name}/{rendered}" if rendered else None
    record["figures"] = [f"{out_dir.name}/{name}" for name in _figures(out_dir)]
    summary = out_dir / "summary.json"
    try:
        record["summary"] = json.loads(summary.read_text()) if summary.is_file() else None
    except ValueError as err:
        record["summary"] = None
        if record["status"] == "ok":
            record.update(status="failed", error=f"{summary}: not valid JSON ({err})")
    if record["status"] == "ok" and record["summary"] is None:
        record.update(status="failed", error="the notebook ran but wrote no summary.json into out_dir")
    return record


def new_run_dir(out_root: Path, run_id: str | None = None) -> Path:
    """``out_root/<run-id>``, created; the default id is the UTC start time, suffixed if taken."""
    base = run_id or _dt.datetime.now(_dt.timezone.utc).strftime("%Y%m%d-%H%M%S")
    if "/" in base or base in ("", ".", ".."):
        raise ValueError(f"--run-id {base!r}: must be a plain folder name")
    candidate, k = out_root / base, 1
    while candidate.exists():
        k += 1
        candidate = out_root / f"{base}-{k}"
    candidate.mkdir(parents=True)
    return candidate


def _summary_rows(summary) -> str:
    if not isinstance(summary, dict):
        return ""
    rows = [(k, v) for k, v in summary.items() if isinstance(v, (int, float, str, bool)) or v is None][:16]
    cells = "".join(f"<tr><td>{html.escape(str(k))}</td><td>{html.escape(f'{v:.4g}' if isinstance(v, float) else str(v))}</td></tr>"
                    for k, v in rows)
    return f'<table class="summary">{cells}</table>' if cells else ""


def write_index(run_dir: Path, results: list[dict], *, total_seconds: float, parameters: dict) -> Path:
    """Write ``run_dir/index.html`` (links to every executed notebook, figure and summary) and ``run.json``."""
    failed = [r["name"] for r in results if r["status"] != "ok"]
    blocks = []
    for r in results:
        links = [f'<a href="{html.escape(r[k])}">{label}</a>' for k, label in (("html", "notebook (HTML)"), ("notebook", "notebook (.ipynb)")) if r.get(k)]
        if r.get("summary") is not None:
            links.append(f'<a href="{html.escape(r["name"])}/summary.json">summary.json</a>')
        figs = "".join(
            f'<a href="{html.escape(f)}"><img src="{html.escape(f)}" alt="{html.escape(f)}"></a>' if not f.endswith(".pdf")
            else f'<a href="{html.escape(f)}">{html.escape(f)}</a>' for f in r["figures"])
        error = f'<pre class="error">{html.escape(r["error"])}</pre>' if r["error"] else ""
        blocks.append(f'<section class="{r["status"]}"><h2>{html.escape(r["name"])} <span class="status">{r["status"]}</span> '
                      f'<span class="time">{r["seconds"]:.1f} s</span></h2><p>{" &middot; ".join(links) or "no output"}</p>'
                      f'{error}{_summary_rows(r.get("summary"))}<div class="figures">{figs}</div></section>')
    verdict = f"{len(failed)} failed: {', '.join(failed)}" if failed else "all ok"
    page = f"""<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>LDARNet workbench run {html.escape(run_dir.name)}</title>
<style>body{{font-family:sans-serif;max-width:1100px;margin:auto}} section{{border-left:6px solid #16a34a;padding-left:10px;margin:18px 0}}
section.failed{{border-color:#dc2626}} .status{{font-size:60%;text-transform:uppercase}} .time{{font-size:60%;color:#666}}
.error{{color:#b91c1c;white-space:pre-wrap}} .figures img{{max-height:220px;margin:4px;border:1px solid #ddd}}
table.summary td{{padding:1px 10px;font-size:90%}}</style></head><body>
<h1>Workbench run {html.escape(run_dir.name)}</h1>
<p>{len(results)} notebooks, {verdict}; {total_seconds:.1f} s in all. Parameters: <code>{html.escape(json.dumps(_plain(parameters)))}</code>
(<a href="run.json">run.json</a>)</p>
{"".join(blocks)}
</body></html>
"""
    atomic_write_text(run_dir / "run.json", json.dumps({"run_id": run_dir.name, "seconds": round(total_seconds, 2),
                                                   "parameters": _plain(parameters), "notebooks": _plain(results)}, indent=2) + "\n")
    atomic_write_text(run_dir / "index.html", page)
    return run_dir / "index.html"


def run_all(notebooks: list[Path], out_root: str | os.PathLike, parameters: dict | None = None, *, run_id: str | None = None,
            kernel: str = "python3", timeout: float | None = None, render: bool = True, log=print,
            progress=None) -> tuple[Path, list[dict]]:
    """Run ``notebooks`` one after another into a new ``out_root/<run-id>/``; returns (run folder, records).

    Each notebook gets ``out_dir`` (absolute) and those of ``parameters`` its parameters cell declares.
    """
    start = time.perf_counter()
    parameters = dict(parameters or {})
    declared = {nb: declared_parameters(nb) for nb in notebooks}
    unused = sorted(set(parameters) - set().union(*declared.values()))
    if unused:
        raise ValueError(f"-p {unused[0]}: no selected notebook declares this parameter "
                         f"(standard names: {', '.join(STANDARD_PARAMETERS)})")
    run_dir = new_run_dir(Path(out_root), run_id)
    results = []
    try:
        for nb in notebooks:
            given = {k: v for k, v in parameters.items() if k in declared[nb]}
            given["out_dir"] = str((run_dir / nb.stem).resolve())
            log(f"{nb.stem}: running ...", flush=True)
            record = run_notebook(nb, run_dir / nb.stem, given, kernel=kernel, timeout=timeout, render=render,
                                  progress=progress)
            results.append(record)
            log(f"{nb.stem}: {record['status']} in {record['seconds']:.1f} s"
                + (f" ({record['error']})" if record["error"] else ""), flush=True)
    finally:  # an interrupted batch still indexes what it finished
        write_index(run_dir, results, total_seconds=time.perf_counter() - start, parameters=parameters)
    return run_dir, results


def build_parser(parser: argparse.ArgumentParser | None = None) -> argparse.ArgumentParser:
    parser = parser or argparse.ArgumentParser(prog="python -m ldarviz.workbench", description=__doc__,
                                               formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", default="reports", help="folder the run folder goes under (default: reports)")
    parser.add_argument("--notebooks", default="notebooks", help="folder of NN_*.ipynb notebooks (default: notebooks)")
    parser.add_argument("--only", nargs="+", default=(), metavar="NAME", help="run only these notebooks (e.g. 01 or 03_motif_profiles)")
    parser.add_argument("-p", "--parameter", nargs=2, action="append", default=[], metavar=("KEY", "VALUE"),
                        help="notebook parameter, given to every notebook that declares it; VALUE is a Python literal or a string")
    parser.add_argument("--run-id", default=None, help="name of the run folder (default: UTC time, e.g. 20261121-143000)")
    parser.add_argument("--kernel", default="python3", help="Jupyter kernel name (default: python3)")
    parser.add_argument("--timeout", type=float, default=1800, help="seconds one cell may run (default: 1800)")
    parser.add_argument("--no-html", action="store_true", help="skip the HTML rendering of each executed notebook")
    parser.add_argument("--quiet", action="store_true", help="no per-cell progress bar (one line per notebook still)")
    parser.set_defaults(func=run)
    return parser


def register(subparsers) -> None:
    """Add the ``workbench`` subcommand to the ``ldarnet`` command line."""
    build_parser(subparsers.add_parser("workbench", help="run every notebook into reports/<run-id>/",
                                       description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter))


def run(args) -> int:
    notebooks = find_notebooks(args.notebooks, args.only)
    parameters = {}
    for key, value in args.parameter:
        if not key.isidentifier():
            raise ValueError(f"-p {key}: not a parameter name")
        parameters[key] = parse_value(value)
    parameters = resolve_paths(parameters)
    start = time.perf_counter()
    run_dir, results = run_all(notebooks, args.out, parameters, run_id=args.run_id, kernel=args.kernel,
                               timeout=args.timeout, render=not args.no_html,
                               progress=None if args.quiet else sys.stderr)
    failed = [r["name"] for r in results if r["status"] != "ok"]
    elapsed = time.perf_counter() - start
    print(f"{len(results)} notebooks in {elapsed // 60:.0f} min {elapsed % 60:.1f} s: "
          f"{len(results) - len(failed)} ok, {len(failed)} failed{': ' + ', '.join(failed) if failed else ''}")
    print(f"index: {display_path(run_dir / 'index.html')}")
    return 1 if failed else 0


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return run(args)
    except (ValueError, OSError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
