"""ldarviz.browse in a real browser: igv.js (bundled in igv-notebook) renders the inline tracks in JupyterLab.

Reuses the server and polling helpers of tests/test_browser.py; the notebook is a small scratch one
written here (a toy locus, no model), served from a temporary folder, so the test takes seconds of
kernel time. Nothing is fetched from the network: every track is a data: URL, igv.js comes from the
wheel, and chromium runs with background networking off.
"""

from __future__ import annotations

import shutil

import nbformat
import pytest
from test_browser import CHROMIUM_ARGS, _get_json, _wait, serve_lab

pytestmark = [pytest.mark.browser, pytest.mark.slow]

NOTEBOOK = "igv_view.ipynb"
CELL = '''
import numpy as np
import pandas as pd
import ldarviz

rng = np.random.default_rng(0)
seq = "".join(rng.choice(list("ACGT"), 2000))
probs = rng.random(600) ** 4
hits = pd.DataFrame({"start": [1250, 1400], "end": [1262, 1410], "motif_id": ["MA0108.3", "MA0060.4"], "strand": ["+", "-"]})
browser = ldarviz.browse({"s1": seq}, ("s1", 1000, 1600), probs=probs, annotation="toy.gff3", hits=hits)
'''
GFF = "##gff-version 3\ns1\ttoy\tgene\t1101\t1500\t.\t+\t.\tID=gene1;Name=toy_gene\n"


@pytest.fixture()
def igv_lab(tmp_path):
    """A JupyterLab serving a folder with the scratch igv notebook; yields (base url, token)."""
    work = tmp_path / "work"
    work.mkdir()
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(CELL.strip())])
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(nb, work / NOTEBOOK)
    (work / "toy.gff3").write_text(GFF)
    with serve_lab(work, tmp_path) as served:
        yield served


def test_igv_view_renders_the_boundary_chunk_annotation_and_motif_tracks(igv_lab, tmp_path):
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        pytest.skip("Debian's chromium is not installed (apt-get install -y chromium); no browser to drive")
    sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed (pip install -e '.[dev]')")
    pytest.importorskip("igv_notebook")
    base, token = igv_lab

    def kernel_ready():
        kernels = _get_json(f"{base}/api/kernels?token={token}")
        return kernels and all(k["connections"] > 0 and k["execution_state"] == "idle" for k in kernels)

    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium, headless=True, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            external, console = [], []
            page.on("console", lambda m: console.append(f"{m.type}: {m.text}"[:300]))
            page.on("request", lambda r: external.append(r.url) if not r.url.startswith((base, "data:", "blob:")) else None)
            page.goto(f"{base}/lab/tree/{NOTEBOOK}?token={token}")
            page.wait_for_selector(".jp-Notebook-ExecutionIndicator[data-status='idle']", timeout=120_000)
            _wait(kernel_ready, 120, "a connected, idle kernel")
            page.get_by_role("menuitem", name="Run", exact=True).click()
            page.get_by_role("menuitem", name="Run All Cells", exact=True).click()

            try:
                page.locator(".igv-navbar").wait_for(state="visible", timeout=240_000)
            except sync_api.TimeoutError:
                page.screenshot(path=str(tmp_path / "igv-timeout.png"))
                outputs = page.locator(".jp-OutputArea-output").all_inner_texts()
                raise AssertionError(f"igv.js did not render; outputs {[o[:300] for o in outputs]}; "
                                     f"console {console[-15:]}") from None
            wanted = {"boundary probability", "chunks", "annotation", "motif hits"}
            _wait(lambda: wanted <= {t.strip() for t in page.locator(".igv-track-label").all_inner_texts()}, 120,
                  f"igv track labels {sorted(wanted)}")
            assert page.locator(".jp-OutputArea-output[data-mime-type='application/vnd.jupyter.stderr']").count() == 0
            # the locus box shows the region passed in (igv.js displays 1-based coordinates)
            locus = page.locator(".igv-navbar input").first.input_value()
            assert locus.replace(",", "") == "s1:1001-1600", locus
            # every track drew into its canvas (a blank canvas of the right size would read back all zero)
            # (igv.js draws inside a shadow root: Playwright's locator pierces it, document.querySelectorAll does not)
            drawn = page.locator(".igv-viewport canvas").evaluate_all("""cs => cs
                .filter(c => c.width > 0 && c.height > 0)
                .map(c => { const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
                            let n = 0; for (let i = 3; i < d.length; i += 4) if (d[i] > 0) n++; return n; })""")
            assert sum(1 for n in drawn if n > 0) >= 4, drawn
            assert not external, f"requests left the machine: {external[:3]}"
            shot = tmp_path / "igv.png"
            page.locator(".igv-navbar").scroll_into_view_if_needed()
            page.screenshot(path=str(shot))
            assert shot.stat().st_size > 10_000
        finally:
            browser.close()
