"""zoo report: one static page, checked in a real (headless) Chromium: no console error, a row per
model, sorting like zoo compare, every image loaded, and the explorer decoding like torch."""
from __future__ import annotations

import json
import re

import pytest
import torch
from browser import Browser, chromium
from click.testing import CliRunner

import zoo
from zoo.cli import main
from zoo.evaluation.sampling import generative

NAMES = [n for n in zoo.list_models() if (zoo.paths.REPO_DIR / "weights" / n / "model.safetensors").is_file()]


def cli(*args):
    return CliRunner().invoke(main, [str(a) for a in args])


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    out = tmp_path_factory.mktemp("report")
    result = cli("report", "--out", out, "--force")
    assert result.exit_code == 0, result.output
    # lines per model on stderr, each saying report: as it starts, as its row is read from its card, as it is drawn
    said = [" ".join(line.split()[:4]) for line in result.stderr.splitlines()]
    assert said == [f"report: {i}/{len(NAMES)} {n} {what}" for i, n in enumerate(NAMES, 1)
                    for what in ("...", "card", "drawn")]
    return out / "index.html"


@pytest.fixture(scope="module")
def page(report, tmp_path_factory):
    if chromium() is None:
        pytest.skip("no Chromium here (apt-get install chromium; .ci/run installs it): the browser tests are skipped")
    pytest.importorskip("websocket", reason="websocket-client (the test extra) drives Chromium")
    browser = Browser(tmp_path_factory.mktemp("profile"))
    try:
        browser.open(report.as_uri())
        yield browser
    finally:
        browser.close()


def test_the_page_needs_no_network(report):
    html = report.read_text()
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", html) and "<link" not in html
    assert "__ZOO_DATA__" not in html


def test_it_loads_with_no_console_error_and_every_image(page, tmp_path):
    assert page.evaluate("document.readyState") == "complete"
    assert page.errors == []
    assert page.evaluate("Array.from(document.images).every(i => i.complete && i.naturalWidth > 0)")
    # per model: reconstructions, loss curves, interpolation; plus denoising triplets and each sampler's samples
    samplers = sum(generative(zoo.load(n, device="cpu")) for n in NAMES)
    assert samplers >= 7  # vae-16, the three likelihood families, wae-8, rae-8 (its mixture) and aae-8
    assert page.evaluate("document.images.length") == 3 * len(NAMES) + 1 + samplers
    page.screenshot(tmp_path / "report.png")
    assert (tmp_path / "report.png").stat().st_size > 10_000


def test_one_row_per_model_sorted_like_zoo_compare(page):
    names = "Array.from(document.querySelectorAll('#compare tbody tr')).map(r => r.dataset.name)"
    assert sorted(page.evaluate(names)) == sorted(NAMES)
    header = "document.querySelectorAll('#compare th')[{}].click()"
    page.evaluate(header.format(4))  # MSE: another order first
    by_mse = page.evaluate(names)
    page.evaluate(header.format(8))  # then SSIM, best first
    by_ssim = page.evaluate(names)
    compared = [r["name"] for r in json.loads(cli("compare", "--metric", "ssim", "--format", "json").stdout)]
    assert by_ssim == compared and by_mse != by_ssim


def test_the_explorer_decodes_like_torch(page):
    model = zoo.load("deep-784-2", device="cpu")
    for z in ([0.0, 0.0], [3.5, -2.25], [-10.0, 7.5]):
        got = torch.tensor(page.evaluate(f"zooDecode('deep-784-2', {json.dumps(z)})"), dtype=torch.float64)
        with torch.no_grad():
            expected = model.decode(torch.tensor([z])).double().flatten()
        assert got.shape == expected.shape and (got - expected).abs().max() <= 1e-4, z


def test_bad_input(tmp_path, monkeypatch, caplog):
    out = cli("report", "deep-6", "--out", tmp_path / "a")
    assert out.exit_code == 2 and "Did you mean 'deep-64'" in out.output and out.output.count("\n") == 1
    (tmp_path / "empty-run").mkdir()
    with caplog.at_level("WARNING", logger="zoo"):
        done = cli("report", "deep-784-2", str(tmp_path / "empty-run"), "--out", tmp_path / "b")
    assert done.exit_code == 0 and (tmp_path / "b" / "index.html").is_file()
    assert any("holds no model.safetensors; left out" in r.getMessage() for r in caplog.records)
    busy = cli("report", "deep-784-2", "--out", tmp_path / "b")
    assert busy.exit_code == 2 and "--force" in busy.output
    before = (tmp_path / "b" / "index.html").read_bytes()
    import zoo.reporting.report as rep

    def broken(*args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(rep, "model_section", broken)
    failed = cli("report", "deep-784-2", "--out", tmp_path / "b", "--force")
    assert failed.exit_code == 1 and (tmp_path / "b" / "index.html").read_bytes() == before


def test_an_interrupted_report_leaves_the_models_done_and_never_costs_an_earlier_page(tmp_path, monkeypatch):
    import zoo.reporting.report as rep

    real, drawn = rep.model_section, []

    def interrupted_at_the_third(target, row):
        if len(drawn) == 2:
            raise KeyboardInterrupt
        drawn.append(target)
        return real(target, row)

    monkeypatch.setattr(rep, "model_section", interrupted_at_the_third)
    names = ["deep-784-2", "deep-784-32", "conv-32"]
    first = cli("report", *names, "--out", tmp_path)
    assert first.exit_code == 130
    data = _page_data(tmp_path / "index.html")
    assert [m["name"] for m in data["models"]] == names[:2] and data["complete"] is False and data["total"] == 3
    monkeypatch.setattr(rep, "model_section", real)
    whole = cli("report", *names, "--out", tmp_path, "--force")
    assert whole.exit_code == 0, whole.output
    before = (tmp_path / "index.html").read_bytes()
    assert _page_data(tmp_path / "index.html")["complete"] is True
    drawn.clear()
    monkeypatch.setattr(rep, "model_section", interrupted_at_the_third)
    again = cli("report", *names, "--out", tmp_path, "--force")
    assert again.exit_code == 130 and (tmp_path / "index.html").read_bytes() == before  # the earlier page intact
    assert _page_data(tmp_path / "index.partial.html")["complete"] is False


def _page_data(path):
    text = path.read_text()
    return json.loads(text.split('<script id="data" type="application/json">')[1].split("</script>")[0])


def test_the_readme_figures_are_the_shipped_grids_upscaled_and_captioned():
    from PIL import Image

    from zoo.reporting.cards import FIGURE_SCALE, FIGURES_DIR

    results = (zoo.paths.REPO_DIR / "docs" / "results.md").read_text()
    for name in NAMES:  # the page's links are relative to docs/
        assert f"]({FIGURES_DIR.removeprefix('docs/')}/{name}.png)" in results and f"**{name}**: " in results
        with Image.open(zoo.paths.REPO_DIR / "weights" / name / "reconstructions.png") as small, \
                Image.open(zoo.paths.REPO_DIR / FIGURES_DIR / f"{name}.png") as big:
            assert big.size == (small.width * FIGURE_SCALE, small.height * FIGURE_SCALE)
            assert big.resize(small.size, Image.NEAREST).tobytes() == small.convert(big.mode).tobytes()


def test_every_scatter_has_a_colour_key_and_no_empty_box_before_a_hover(page):
    found = page.evaluate("""Array.from(document.querySelectorAll('#models section')).map(s => [s.id,
        Array.from(s.querySelectorAll('.legend span')).map(x => x.textContent),
        getComputedStyle(s.querySelector('canvas.hover')).visibility])""")
    assert len(found) == len(NAMES)
    for section, keys, visibility in found:
        dataset = zoo.load(section, device="cpu").entry.dataset
        assert keys == list(zoo.data.dataset_info(dataset).classes) and visibility == "hidden", section


def test_the_2d_scatter_spans_its_codes_not_its_outliers(page):
    from zoo.reporting.report import SCATTER_POINTS

    bounds = json.loads(page.evaluate("document.querySelector('#deep-784-2 canvas.scatter').dataset.bounds"))
    model = zoo.load("deep-784-2", device="cpu")
    images = zoo.load_dataset("mnist", "test").images[:SCATTER_POINTS]
    with torch.no_grad():
        codes = model.encode(zoo.data.to_float(images)).double()
    inside = ((codes[:, 0] >= bounds[0]) & (codes[:, 0] <= bounds[1]) & (codes[:, 1] >= bounds[2]) & (codes[:, 1] <= bounds[3]))
    assert inside.double().mean() >= 0.98  # nearly every point is on the plot
    for axis, (lo, hi) in enumerate((bounds[:2], bounds[2:])):
        assert hi - lo < float(codes[:, axis].max() - codes[:, axis].min())  # a few outliers do not set the scale


def test_the_explorer_plane_shows_the_codes_and_its_axes(page):
    drawn = page.evaluate("""(() => {
        const c = document.querySelector('#deep-784-2 canvas.explorer'), d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
        const colours = new Set(); let marked = 0;
        for (let i = 0; i < d.length; i += 4) {
            if (d[i] !== 248 || d[i + 1] !== 248 || d[i + 2] !== 248) { marked++; colours.add(`${d[i]},${d[i + 1]},${d[i + 2]}`); }
        }
        return [marked, colours.size, c.width * c.height];
    })()""")
    marked, colours, total = drawn
    assert marked > 3000 and colours >= 10  # 400 points of ten labels (4x4 pixels each) and the axes, not a blank square


def test_nothing_overflows_the_page_at_1400_px(page):
    page.send("Emulation.setDeviceMetricsOverride", width=1400, height=2000, deviceScaleFactor=1, mobile=False)
    try:
        wide = page.evaluate("Array.from(document.querySelectorAll('dd')).filter(d => d.scrollWidth > d.clientWidth + 1)"
                             ".map(d => d.textContent.slice(0, 40))")
        assert wide == [] and page.evaluate("document.documentElement.scrollWidth") <= 1400
    finally:
        page.send("Emulation.clearDeviceMetricsOverride")


def test_hovering_a_point_shows_its_test_image(page):
    shown = page.evaluate("""(() => {
        const section = document.getElementById('deep-784-2');
        const canvas = section.querySelector('canvas.scatter'), hover = section.querySelector('canvas.hover');
        const r = canvas.getBoundingClientRect(), ctx = canvas.getContext('2d');
        const data = ctx.getImageData(0, 0, canvas.width, canvas.height).data;
        for (let i = 0; i < data.length; i += 4) {   // the first drawn point (grey: the axes, their labels)
            if (data[i + 3] > 0 && !(data[i] === data[i + 1] && data[i + 1] === data[i + 2])) {
                const x = (i / 4) % canvas.width, y = Math.floor(i / 4 / canvas.width);
                canvas.dispatchEvent(new MouseEvent('mousemove', {clientX: r.left + x + 1, clientY: r.top + y + 1}));
                break;
            }
        }
        const pixels = hover.getContext('2d').getImageData(0, 0, hover.width, hover.height).data;
        const red = pixels.filter((v, i) => i % 4 === 0);
        return [section.querySelector('figure canvas.hover + div').textContent, Math.max(...red),
                getComputedStyle(hover).visibility];
    })()""")
    assert shown[0].startswith("test image ") and shown[1] > 0 and shown[2] == "visible"


def test_text_of_a_users_that_opens_a_comment_or_a_script_cannot_break_the_page(tmp_path, monkeypatch):
    """An entry's description and a class folder's name holding ``<!--<script>`` and ``</script>``: the page
    still renders its row and its section, with no console error (they are escaped inside the inlined data)."""
    if chromium() is None:
        pytest.skip("no Chromium here (apt-get install chromium; .ci/run installs it): the browser tests are skipped")
    import numpy as np
    from PIL import Image

    evil = "<!--<script>"
    rng = np.random.default_rng(0)
    for i in range(60):
        folder = tmp_path / "data" / (evil if i % 2 else "b</script>")
        folder.mkdir(parents=True, exist_ok=True)
        Image.fromarray(rng.integers(0, 256, (8, 8), dtype=np.uint8)).save(folder / f"{i}.png")
    entry = {"description": f"evil {evil} text </script>", "family": "ae",
             "network": {"type": "mlp", "hidden": [16]}, "kwargs": {"latent_dim": 2}, "dataset": str(tmp_path / "data"),
             "recipe": {"optimizer": "adam", "lr": 0.001, "batch_size": 16, "epochs": 1, "loss": "mse",
                        "early_stopping": {"patience": 2}, "seed": 0}}
    (tmp_path / "registry.json").write_text(json.dumps({"version": 1, "models": {"evil": entry}}))
    monkeypatch.setenv("ZOO_REGISTRY", str(tmp_path / "registry.json"))
    zoo.train("evil", out=tmp_path / "run", device="cpu", quiet=True)
    result = cli("report", tmp_path / "run", "--out", tmp_path / "page")
    assert result.exit_code == 0, result.output
    html = (tmp_path / "page" / "index.html").read_text()
    assert "<!--<script>" not in html and html.count("</script>") == html.count("<script")
    browser = Browser(tmp_path / "profile")
    try:
        browser.open((tmp_path / "page" / "index.html").as_uri())
        assert browser.errors == []
        assert browser.evaluate("document.querySelectorAll('#compare tbody tr').length") == 1
        assert browser.evaluate("document.querySelectorAll('section').length") >= 1
        assert evil in browser.evaluate("document.body.innerText")  # shown as text, not parsed as markup
    finally:
        browser.close()


def test_the_readme_screenshot_shows_every_entry_of_the_registry():
    """docs/report.png is made by scripts/report_screenshot.py, which records the models it shows."""
    from PIL import Image

    with Image.open(zoo.paths.REPO_DIR / "docs" / "report.png") as image:
        shown = json.loads(image.text["zoo.models"])
        assert image.width == 1300
    assert shown == zoo.list_models() == NAMES  # every registry entry ships weights, and the picture shows each
