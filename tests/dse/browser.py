"""Open a report in headless Chromium (Debian's ``chromium``) and say what rendered.

`render(page, tmp)` copies the page into `tmp` with a probe script first in its head, runs Chromium
once with ``--dump-dom`` and ``--screenshot``, and returns the probe's findings and the screenshot's
path.  The probe records console errors, uncaught errors and rejected promises, and after the load
event, for every figure named in the page's ``coex-report-meta`` JSON, counts what Plotly drew in
that div: SVG trace groups (``g.trace``: scatter and bar traces), parallel-coordinates groups
(``g.parcoords``, drawn with WebGL behind SVG axes) and, where the div holds a WebGL scene, its 3-D
traces.  Chromium runs with no network, no GPU (software WebGL), a throwaway profile and a virtual
time budget, so a page that waits for the network hangs nothing.
"""

from __future__ import annotations

import html
import json
import re
import shutil
import struct
import subprocess
import zlib
from pathlib import Path
from typing import Any

WINDOW = (1280, 3000)
PROBE = """<script>
window.__coex = {errors: []};
window.addEventListener('error', e => window.__coex.errors.push('uncaught: ' + e.message));
window.addEventListener('unhandledrejection', e => window.__coex.errors.push('rejection: ' + e.reason));
(() => { const orig = console.error;
  console.error = (...args) => { window.__coex.errors.push('console.error: ' + args.join(' ')); orig(...args); };
})();
window.addEventListener('load', () => setTimeout(() => {
  const meta = JSON.parse(document.getElementById('coex-report-meta').textContent);
  const out = {errors: window.__coex.errors, plotly: typeof Plotly !== 'undefined' ? Plotly.version : null,
               figures: {}};
  for (const id of Object.keys(meta.figures)) {
    const div = document.getElementById(id);
    if (!div) { out.figures[id] = null; continue; }
    const data = div._fullData || [];
    const gl3d = div.querySelector('.gl-container canvas') ? data.filter(t => t.type === 'scatter3d').length : 0;
    out.figures[id] = {data: data.length, svg: div.querySelectorAll('g.trace').length,
                       parcoords: div.querySelectorAll('g.parcoords').length, gl3d: gl3d};
  }
  const pre = document.createElement('pre');
  pre.id = 'coex-probe';
  pre.textContent = JSON.stringify(out);
  document.body.appendChild(pre);
}, 300));
</script>"""


def chromium() -> str | None:
    return shutil.which("chromium") or shutil.which("chromium-browser")


def render(page: Path, tmp: Path, timeout_s: float = 120) -> tuple[dict[str, Any], Path]:
    """(probe findings, screenshot path) for the report `page`, working in `tmp`."""
    exe = chromium()
    assert exe is not None, "no chromium on PATH"
    text = page.read_text(encoding="utf-8")
    probed = tmp / "probed.html"
    probed.write_text(text.replace("<head>", "<head>" + PROBE, 1), encoding="utf-8")
    shot = tmp / "report.png"
    cmd = [exe, "--headless", "--no-sandbox", "--disable-gpu", "--enable-unsafe-swiftshader", "--disable-quic",
           "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync",
           "--disable-extensions", "--hide-scrollbars", f"--user-data-dir={tmp / 'profile'}",
           "--virtual-time-budget=5000", f"--window-size={WINDOW[0]},{WINDOW[1]}", f"--screenshot={shot}",
           "--dump-dom", probed.as_uri()]
    res = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout_s)
    m = re.search(r'<pre id="coex-probe">(.*?)</pre>', res.stdout, re.S)
    assert m, f"the probe did not report (exit {res.returncode}); stderr tail:\n{res.stderr[-2000:]}"
    return json.loads(html.unescape(m.group(1))), shot


def rendered_traces(fig: dict[str, int]) -> int:
    """Traces the browser drew in one figure (SVG groups, parallel-coordinates groups, 3-D traces)."""
    return fig["svg"] + fig["parcoords"] + fig["gl3d"]


def png_facts(path: Path) -> dict[str, int]:
    """width, height and the number of distinct row-filtered bytes of a PNG (stdlib only)."""
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n", f"{path} is not a PNG"
    pos, idat, width, height = 8, b"", 0, 0
    while pos < len(data):
        (length,), kind = struct.unpack(">I", data[pos:pos + 4]), data[pos + 4:pos + 8]
        chunk = data[pos + 8:pos + 8 + length]
        if kind == b"IHDR":
            width, height = struct.unpack(">II", chunk[:8])
        elif kind == b"IDAT":
            idat += chunk
        pos += 12 + length
    raw = zlib.decompress(idat)
    return {"width": width, "height": height, "bytes": len(data), "distinct": len(set(raw))}
