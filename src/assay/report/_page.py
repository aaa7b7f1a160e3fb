"""A diagnostic's standalone page: its ``section`` (the one the evaluation report embeds)
under a verdict heading, in the evaluation report's look, plotly.js beside the page or
inside it. One page shape for every ``assay <diagnostic> --html``.
"""

from __future__ import annotations

from html import escape

# The evaluation report's styles for a diagnostic section (templates/evaluation.html.j2),
# so that a section reads the same alone and embedded.
STYLE = """
:root { --ok:#1a7f37; --bad:#cf222e; --ink:#1f2328; --muted:#656d76; --line:#d0d7de; }
* { box-sizing: border-box; }
body { font: 14px/1.45 -apple-system, "Segoe UI", Helvetica, Arial, sans-serif; color: var(--ink);
       margin: 0; background: #fff; }
main { max-width: 1100px; margin: 0 auto; padding: 24px 28px 48px; }
h1 { font-size: 22px; margin: 0 0 8px; }
h1 .ok { color: var(--ok); } h1 .bad { color: var(--bad); }
h2 { font-size:18px; margin:24px 0 10px; padding-bottom:6px; border-bottom:1px solid var(--line); }
h2 .sub, h3 .sub { font-weight:400; color:var(--muted); font-size:13px; margin-left:8px; }
code { font-family: ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; font-size:12.5px; }
.muted { color: var(--muted); }
.tablewrap { overflow-x:auto; }
table { border-collapse:collapse; }
.diagnostic table { min-width:60%; font-size:12.5px; margin:6px 0 14px; }
.diagnostic th { text-align:left; font-size:11.5px; text-transform:uppercase; letter-spacing:.04em;
                 color:var(--muted); border-bottom:2px solid var(--line); padding:5px 8px;
                 white-space:nowrap; }
.diagnostic td { border-bottom:1px solid var(--line); padding:4px 8px;
                 font-variant-numeric: tabular-nums; overflow-wrap:anywhere; }
.diagnostic td:not(:first-child), .diagnostic th:not(:first-child) { text-align:right; }
.diagnostic tr.bad td { color:var(--bad); font-weight:600; }
.diagnostic h3 { font-size:14px; margin:14px 0 4px; }
.diagnostic .notes { color:var(--muted); font-size:12.5px; }
"""


def standalone(
    title: str, passed: bool | None, body: str, *, plots: bool = False, self_contained: bool = False
) -> str:
    """A page: ``title`` with the verdict (``passed``; None for a report without one),
    then ``body`` (a diagnostic's section). With ``plots``, plotly.js is loaded from the
    file beside the page (``write_report`` writes it) or, ``self_contained``, carried."""
    script = ""
    if plots:
        from assay.report._plotly import beside, inline

        script = inline() if self_contained else beside()
    verdict = (
        ""
        if passed is None
        else f": <span class='{'ok' if passed else 'bad'}'>{'passed' if passed else 'FAILED'}</span>"
    )
    return (
        "<!doctype html><html lang='en'><head><meta charset='utf-8'>"
        "<meta name='viewport' content='width=device-width, initial-scale=1'>"
        f"<title>{escape(title)}</title><style>{STYLE}</style>{script}</head><body><main>"
        f"<h1>{escape(title)}{verdict}</h1><div class='diagnostic'>{body}</div>"
        "</main></body></html>\n"
    )
