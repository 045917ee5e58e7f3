"""``stochins report``: one self-contained HTML page; every image an embedded, decodable PNG."""

from __future__ import annotations

import base64
import io
from html.parser import HTMLParser

import numpy as np
import pytest

from stochins.cli import main
from synthetic import write_file

TIME = np.linspace(0.0, 30.0, 7)
DOSES = [0.0, 0.1, 1.0, 10.0]


def sisters_block(c, first, n):
    """Pairs of sisters share a lognormal rate k; X ~ Poisson(k (1 + 3c) t/30), Y ~ Poisson(30)."""
    rng = np.random.default_rng([c, first])
    k = np.repeat(rng.lognormal(np.log(20), 0.3, n // 2), 2)
    traj = np.empty((n, TIME.size, 2), dtype=np.int32)
    traj[:, :, 0] = rng.poisson(k[:, None] * (1 + 3 * c) * TIME[None, :] / 30)
    traj[:, :, 1] = rng.poisson(30.0, size=(n, TIME.size))
    return traj, k[:, None]


@pytest.fixture(scope="module")
def sweep(tmp_path_factory):
    return write_file(tmp_path_factory.mktemp("report") / "sweep.h5", TIME, ["X", "Y"],
                      [{"inputs.insulin.dose": d} for d in DOSES], sisters_block, cells=2000, block_cells=500,
                      parameter_names=["k"], attrs={"sisters": 2})


class Page(HTMLParser):
    def __init__(self):
        super().__init__()
        self.headings, self.images, self.tables, self._in = [], [], 0, None

    def handle_starttag(self, tag, attrs):
        if tag in ("h1", "h2"):
            self._in = tag
        elif tag == "img":
            self.images.append(dict(attrs)["src"])
        elif tag == "table":
            self.tables += 1

    def handle_endtag(self, tag):
        self._in = None if tag == self._in else self._in

    def handle_data(self, data):
        if self._in == "h2":
            self.headings.append(data)


def parse(path) -> Page:
    page = Page()
    page.feed(path.read_text(encoding="utf-8"))
    page.close()
    return page


def check_images(page: Page) -> None:
    import matplotlib.image as mpimg

    assert page.images
    for src in page.images:
        assert src.startswith("data:image/png;base64,")
        data = base64.b64decode(src.split(",", 1)[1], validate=True)
        assert data[:8] == b"\x89PNG\r\n\x1a\n"
        img = mpimg.imread(io.BytesIO(data), format="png")
        assert img.ndim == 3 and min(img.shape[:2]) > 100 and img.std() > 0   # decodes, not blank


def test_report_of_a_sweep_with_sisters(sweep, tmp_path, capsys):
    out = tmp_path / "r" / "report.html"
    assert main(["report", str(sweep), "-o", str(out), "--main", "X", "--boot", "30"]) == 0
    assert capsys.readouterr().out.strip() == str(out)
    page = parse(out)
    for heading in ("Provenance", "Population summary", "Dose-response",
                    "Information about the dose (channel capacity)", "Responding cells and bimodality",
                    "Response timing", "Single cells over the population", "Noise: intrinsic and extrinsic"):
        assert heading in page.headings, page.headings
    assert len(page.images) == 5 and page.tables >= 8   # dose-response, capacity, distributions, cells, noise
    check_images(page)
    text = out.read_text(encoding="utf-8")
    assert "http" not in text.replace("http-equiv", "")  # self-contained: nothing fetched
    assert "capacity (bits)" in text and "synthetic" in text


def test_report_of_a_single_condition(tmp_path, capsys):
    path = write_file(tmp_path / "one.h5", TIME, ["X", "Y"], [{}], sisters_block, cells=400)
    out = tmp_path / "one.html"
    assert main(["report", str(path), "-o", str(out)]) == 0
    page = parse(out)
    assert "Distributions and bimodality" in page.headings and "Dose-response" not in page.headings
    assert "Noise: intrinsic and extrinsic" not in page.headings
    check_images(page)


def test_report_errors_are_one_line(sweep, tmp_path, capsys):
    for argv, text in (([str(tmp_path / "missing.h5")], "no such results file"),
                       ([str(sweep), "--species", "Q"], "unknown species 'Q'"),
                       ([str(sweep), "--main", "Q"], "unknown species 'Q'"),
                       ([str(sweep), "--times", "100"], "not recorded")):
        assert main(["report", *argv, "-o", str(tmp_path / "x.html")]) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and text in err and "Traceback" not in err, err


def test_report_of_too_few_cells_says_what_it_skipped(tmp_path, capsys):
    path = write_file(tmp_path / "few.h5", TIME, ["X", "Y"], [{"inputs.insulin.dose": d} for d in DOSES],
                      sisters_block, cells=6, attrs={"sisters": 2}, parameter_names=["k"])
    out = tmp_path / "few.html"
    assert main(["report", str(path), "-o", str(out), "--boot", "10"]) == 0
    text = out.read_text(encoding="utf-8")
    assert "not analysed" in text and "too few" in text
    check_images(parse(out))
