"""`dse report`'s page in headless Chromium: every Plotly figure holds and draws the number of traces
the page's metadata promises (``figures``; ``drawn`` leaves out empty 2-D traces, which Plotly skips),
with no console errors, and a screenshot of it is a real image.
Skipped only where Chromium is not installed (scripts/test.sh installs Debian's chromium)."""

from __future__ import annotations

import json
import re

import pytest

from tests.dse.browser import WINDOW, chromium, png_facts, render, rendered_traces

pytestmark = pytest.mark.skipif(chromium() is None, reason="chromium is not installed (Debian: apt-get install "
                                                           "chromium; scripts/test.sh does)")


def test_report_renders_in_chromium(sim_run, tmp_path):
    _, paths = sim_run
    page = paths["html"].read_text()
    meta = json.loads(re.search(r"id='coex-report-meta'>(.*?)</script>", page).group(1))
    assert set(meta["figures"]) == {"pareto", "hypervolume", "parallel", "sensitivity", "layers"}

    probe, shot = render(paths["html"], tmp_path)
    assert probe["errors"] == []
    assert probe["plotly"], "plotly.js did not load"
    for name, expected in meta["figures"].items():
        fig = probe["figures"][name]
        assert fig is not None, f"no <div id={name}> in the page"
        assert fig["data"] == expected, (name, fig)  # traces Plotly took in
        assert rendered_traces(fig) == meta["drawn"][name], (name, fig)  # traces it drew
    assert probe["figures"]["parallel"]["parcoords"] == 1

    facts = png_facts(shot)
    assert (facts["width"], facts["height"]) == WINDOW
    assert facts["bytes"] > 20_000 and facts["distinct"] > 16, facts  # not a blank page
