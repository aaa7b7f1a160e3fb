"""plotly.js for the HTML reports: one file beside them, or inlined gzip-compressed.

plotly.js is 4.8 MB minified, fifty times the rest of an evaluation report. By default
a report loads it from ``plotly-<version>.min.js`` in its own folder, written once and
shared by every report there (a CI artifact folder, a docs site). A self-contained
report inlines it gzip-compressed and base64-encoded (2.0 MB) and unpacks it with the
browser's ``DecompressionStream``, for a page that travels alone (an e-mail).
Neither fetches anything from the network. docs/decisions.md has the sizes.
"""

from __future__ import annotations

import base64
import functools
import gzip
import re
from pathlib import Path

from assay.extras import require

PURPOSE = "HTML reports"

# The page's reference to the file beside it, as ``write_report`` finds it again.
SCRIPT_SRC = re.compile(r'<script src="(plotly-[0-9A-Za-z.+-]+\.min\.js)"')

# Without the file beside the page (the HTML copied alone), each plot says what to do
# instead of the page throwing "Plotly is not defined" once per figure.
_MISSING = (
    "<script>if (!window.Plotly) window.Plotly = {{newPlot: function (id) {{"
    "document.getElementById(id).textContent = "
    '"This plot needs {name} in the same folder as this page: copy it with the report, '
    'or write the report with --self-contained."; }}}};</script>'
)

# Figures call Plotly.newPlot while the page is parsed; until plotly.js is unpacked, a
# stand-in queues those calls, and they are replayed once it is. The unpacked code runs
# as a script element, as a <script src> would (plotly.js sets window.Plotly itself).
_UNPACK = """\
<script type="application/gzip;base64" id="plotly-js-gz">{data}</script>
<script>
(function () {{
  var queued = [];
  window.Plotly = {{newPlot: function () {{ queued.push(arguments); }}}};
  function fail(why) {{
    function say() {{
      document.querySelectorAll(".plotly-graph-div").forEach(function (div) {{
        div.textContent = "Plot not shown: " + why;
      }});
    }}
    if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", say);
    else say();
  }}
  if (!("DecompressionStream" in window)) {{
    fail("this browser cannot unpack plotly.js (it needs DecompressionStream); open the page in a current browser.");
    return;
  }}
  var packed = atob(document.getElementById("plotly-js-gz").textContent);
  var bytes = new Uint8Array(packed.length);
  for (var i = 0; i < packed.length; i++) bytes[i] = packed.charCodeAt(i);
  new Response(new Blob([bytes]).stream().pipeThrough(new DecompressionStream("gzip")))
    .text()
    .then(function (code) {{
      var script = document.createElement("script");
      script.text = code;
      document.head.appendChild(script);
      queued.forEach(function (call) {{ window.Plotly.newPlot.apply(window.Plotly, call); }});
    }})
    .catch(function (error) {{ fail("plotly.js could not be unpacked (" + error + ")."); }});
}})();
</script>"""


def asset_name() -> str:
    """``plotly-4.1.1.min.js``: the file name carries the version, so reports written by
    different plotly versions into one folder never load each other's."""
    offline = require("plotly.offline", PURPOSE)
    return f"plotly-{offline.get_plotlyjs_version()}.min.js"


def asset_bytes() -> bytes:
    """plotly's own minified bundle, byte for byte."""
    offline = require("plotly.offline", PURPOSE)
    text: str = offline.get_plotlyjs()
    return text.encode("utf-8")


def beside() -> str:
    """The ``<head>`` markup that loads plotly.js from the file beside the page."""
    name = asset_name()
    return f'<script src="{name}"></script>\n' + _MISSING.format(name=name)


@functools.cache
def inline() -> str:
    """The ``<head>`` markup that carries plotly.js itself, compressed (computed once:
    compressing 4.8 MB takes a noticeable fraction of a second)."""
    # mtime=0: the same bundle gives the same page, byte for byte.
    packed = gzip.compress(asset_bytes(), compresslevel=9, mtime=0)
    return _UNPACK.format(data=base64.b64encode(packed).decode("ascii"))


def write_beside(page: str, folder: Path) -> None:
    """Write the plotly.js file that ``page`` loads into ``folder``, unless the same
    bytes are already there (reports in one folder share it; it is never rewritten)."""
    # A page without the reference (a check report, any other text) needs no plotly.
    if not SCRIPT_SRC.search(page) or f'<script src="{asset_name()}"' not in page:
        return
    from assay.files import atomic_write

    target, content = folder / asset_name(), asset_bytes()
    # The size first: a different plotly.js is told apart without reading 4.8 MB.
    same_size = target.is_file() and target.stat().st_size == len(content)
    if same_size and target.read_bytes() == content:
        return
    with atomic_write(target) as tmp:
        tmp.write_bytes(content)
