"""`dvc plots show` after a real `dvc repro` renders every declared plot, checked in headless Chromium.

Uses the session's one tiny pipeline run (tests/conftest.py: ``tiny_pipeline``). DVC's page loads
vega, vega-lite and vega-embed from cdn.jsdelivr.net; there is no internet here, so the page's
script tags are pointed at the same versions vendored in tests/assets/vega/ (see its README).
Chromium (Debian's ``chromium`` package) then loads the page twice: ``--dump-dom`` to count the
canvases vega drew, ``--screenshot`` to check the picture is not blank.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml
from pipeline_helpers import run

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
pytestmark = [
    pytest.mark.e2e,
    # Checked before the session's pipeline fixture runs; CI installs it (`.ci/run`), so there it never skips.
    pytest.mark.skipif(CHROMIUM is None, reason="headless Chromium not installed: `apt-get install -y chromium` (Debian)"),
]

VEGA_ASSETS = Path(__file__).resolve().parents[1] / "assets" / "vega"
CDN_SCRIPT = re.compile(r'src="https://cdn\.jsdelivr\.net/npm/(vega(?:-lite|-embed)?)@([0-9.]+)"')
CHROMIUM_FLAGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--hide-scrollbars", "--virtual-time-budget=15000",
]
"""No sandbox (root in CI), no GPU, and nothing that phones home: the machine has no internet."""
WINDOW = (1400, 3000)


def _declared_plots(repo: Path) -> list[str]:
    entries = yaml.safe_load((repo / "dvc.yaml").read_text())["plots"]
    return [entry if isinstance(entry, str) else next(iter(entry)) for entry in entries]


def localize_vega_scripts(page: Path, assets: Path = VEGA_ASSETS) -> None:
    """Point the page's CDN ``<script src>`` tags at vendored copies placed in ``<page dir>/vendor/``."""
    html = page.read_text(encoding="utf-8")
    (page.parent / "vendor").mkdir(exist_ok=True)

    def local(match: re.Match[str]) -> str:
        name = f"{match[1]}-{match[2]}.min.js"
        if not (assets / name).is_file():
            raise AssertionError(f"DVC's page loads {match[0]}; vendor {name} into {assets} (see its README)")
        shutil.copy(assets / name, page.parent / "vendor" / name)
        return f'src="vendor/{name}"'

    html, n = CDN_SCRIPT.subn(local, html)
    assert n == 3, f"expected vega, vega-lite and vega-embed script tags, replaced {n}"
    assert "https://" not in re.sub(r'"\$schema": "https://[^"]*"', "", html), "page still loads something remote"
    page.write_text(html, encoding="utf-8")


def chromium(page: Path, profile: Path, *args: str) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(
        [str(CHROMIUM), *CHROMIUM_FLAGS, f"--user-data-dir={profile}", *args, page.as_uri()],
        capture_output=True, text=True, timeout=120,
    )
    assert result.returncode == 0, f"chromium failed ({result.returncode}): {result.stderr[-2000:]}"
    return result


@pytest.fixture(scope="module")
def rendered(tiny_pipeline: dict[str, Any], tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    repo, env = tiny_pipeline["repo"], tiny_pipeline["env"]
    out = tmp_path_factory.mktemp("plots")
    shown = run(["dvc", "plots", "show"], repo, env=env)  # the README's command: writes dvc_plots/index.html
    assert "dvc_plots/index.html" in shown.stdout, shown.stdout
    assert not re.search(r"warning|error", shown.stdout + shown.stderr, re.IGNORECASE), shown.stdout + shown.stderr
    assert "dvc_plots" not in run(["git", "status", "--porcelain", "--ignored=no"], repo).stdout
    shutil.move(repo / "dvc_plots", out / "dvc_plots")  # leave the shared clone as it was
    page = out / "dvc_plots" / "index.html"
    source_html = page.read_text(encoding="utf-8")
    localize_vega_scripts(page)
    dom = chromium(page, out / "profile", "--dump-dom").stdout
    shot = out / "shot.png"
    chromium(page, out / "profile", f"--screenshot={shot}", f"--window-size={WINDOW[0]},{WINDOW[1]}")
    return {"repo": repo, "page": page, "html": source_html, "dom": dom, "shot": shot}


def _specs(html: str) -> dict[str, dict[str, Any]]:
    """``{div id: vega-lite spec}`` of every vega plot DVC embedded in its page."""
    found = re.findall(r'<div id = "([^"]+)">\s*<script type = "text/javascript">\s*var spec = (\{.*?\});\s*vegaEmbed',
                       html, re.DOTALL)
    return {div: json.loads(spec) for div, spec in found}


def test_page_embeds_every_declared_plot_with_data(rendered: dict[str, Any]) -> None:
    specs = _specs(rendered["html"])
    for plot in _declared_plots(rendered["repo"]):
        if plot.endswith(".png"):
            image = rendered["page"].parent / "static" / f"workspace_{plot.replace('/', '_')}"
            assert f'src="static/{image.name}"' in rendered["html"], plot
            assert image.read_bytes().startswith(b"\x89PNG") and image.stat().st_size > 2000, image
        else:
            div = plot.replace("/", "_").replace(".", "_")
            assert div in specs, f"{plot}: no vega plot in the page"
            rows = specs[div]["data"]["values"]
            assert rows and {"dataset", "method", "rev"} <= set(rows[0]), plot
            assert specs[div]["title"]["text"], plot  # dvc.yaml's title filled the template's anchor


def test_learning_curves_cover_every_run_of_params(rendered: dict[str, Any], tiny_pipeline: dict[str, Any]) -> None:
    params = tiny_pipeline["params"]
    rows = _specs(rendered["html"])["reports_learning_curves_csv"]["data"]["values"]
    runs = {(r["dataset"], r["method"], int(r["replicate"])) for r in rows}
    assert runs == {(d, m, int(r)) for d in params.data.datasets for m in params.methods for r in params.replicates}


def test_headless_chromium_draws_every_vega_plot(rendered: dict[str, Any]) -> None:
    n_vega = sum(not p.endswith(".png") for p in _declared_plots(rendered["repo"]))
    canvases = re.findall(r'<canvas width="(\d+)" height="(\d+)" class="marks"', rendered["dom"])
    assert len(canvases) == n_vega, f"vega drew {len(canvases)} of {n_vega} plots (a spec failed to render?)"
    assert all(int(w) > 300 and int(h) > 200 for w, h in canvases), canvases
    assert "static/workspace_reports_cd_diagram.png" in rendered["dom"]


def test_screenshot_is_a_full_non_blank_image(rendered: dict[str, Any]) -> None:
    import matplotlib.image

    pixels = matplotlib.image.imread(rendered["shot"])  # float RGB(A) in [0, 1]
    assert pixels.shape[:2] == (WINDOW[1], WINDOW[0])
    rgb = np.round(pixels[..., :3] * 255).astype(np.uint32).reshape(-1, 3)
    n_colours = np.unique((rgb[:, 0] << 16) | (rgb[:, 1] << 8) | rgb[:, 2]).size
    ink = np.any(rgb < 235, axis=1).mean()  # share of pixels that are not (near) white
    assert n_colours > 500, f"only {n_colours} distinct colours: the page looks blank"
    assert ink > 0.015, f"only {ink:.1%} of the screenshot is drawn"
    # vega-lite's default palette (tableau10) in the upper part: the vega plots drew, not only the PNGs.
    top = np.round(pixels[: WINDOW[1] // 3, :, :3] * 255).astype(int).reshape(-1, 3)
    for hex_colour in ("#4c78a8", "#f58518"):
        target = np.array([int(hex_colour[i:i + 2], 16) for i in (1, 3, 5)])
        assert (np.abs(top - target).max(axis=1) <= 12).sum() > 20, f"no {hex_colour} marks in the vega plots"
