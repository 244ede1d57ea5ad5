"""The rescan report: Markdown and a self-contained HTML page with a chart (matplotlib, inline SVG),
written next to the output as ``out.report.md`` and ``out.report.html``.

Contents: the run (input, policy version, as-of day, time, throughput, attempts), decisions per
action, listings per category, the top rules, errors (per code and the first ones with their
line/row), and — when the run was compared with a previous one — the diff's counts per effect,
action transition and rule.
"""

from __future__ import annotations

import html
import io
from pathlib import Path
from typing import Any, Optional

from app.rescan.files import atomic_writer, sibling

ACTIONS = ("allow", "region_mask", "restrict", "block")
ACTION_COLOURS = {"allow": "#2e7d32", "region_mask": "#f9a825", "restrict": "#ef6c00", "block": "#c62828"}
TOP_RULES = 20


def _pct(n: int, total: int) -> str:
    return f"{100 * n / total:.1f} %" if total else "–"


def _sections(final: dict[str, Any], diff: Optional[dict[str, Any]]) -> list[tuple[str, list[str], list[list[str]]]]:
    """(title, header, rows) tables shared by both renderings."""
    st = final["stats"]
    decided = st["decided"]
    tables: list[tuple[str, list[str], list[list[str]]]] = []
    tables.append(("Decisions per action", ["action", "listings", "share"],
                   [[a, f"{st['actions'].get(a, 0):,}", _pct(st["actions"].get(a, 0), decided)] for a in ACTIONS]
                   + [["review", f"{st['review']:,}", _pct(st["review"], decided)]]))
    cats = sorted(st["categories"].items(), key=lambda kv: -kv[1])
    tables.append(("Listings per category (with at least one violation of it)", ["category", "listings", "share"],
                   [[c, f"{n:,}", _pct(n, decided)] for c, n in cats] or [["(none)", "0", "–"]]))
    rules = sorted(st["rules"].items(), key=lambda kv: (-kv[1], kv[0]))[:TOP_RULES]
    tables.append((f"Top rules (listings violating each; top {TOP_RULES})", ["rule id", "listings", "share"],
                   [[r, f"{n:,}", _pct(n, decided)] for r, n in rules] or [["(none)", "0", "–"]]))
    codes = sorted(st["error_codes"].items(), key=lambda kv: -kv[1])
    tables.append(("Errors per code", ["code", "rows"], [[c, f"{n:,}"] for c, n in codes] or [["(none)", "0"]]))
    if st["first_errors"]:
        rows = []
        for e in st["first_errors"]:
            where = f"line {e['line']}" if "line" in e else f"row {e.get('row')}"
            rows.append([where, str(e.get("listing_id") or "–"), e["error"]["code"], e["error"]["message"]])
        tables.append((f"First {len(rows)} errors (all in the errors file)", ["where", "listing id", "code", "message"],
                       rows))
    if diff:
        tables.append(("Changes since the previous run", ["", "listings"], [
            ["compared (new run)", f"{diff['new_listings']:,}"], ["unchanged", f"{diff['unchanged']:,}"],
            ["changed", f"{diff['changed']:,}"], ["added (not in the previous run)", f"{diff['added']:,}"],
            ["removed (not in this run)", f"{diff['removed']:,}"]]))
        tables.append(("What the platform acts on (changed listings per effect)", ["effect", "listings"],
                       [[e, f"{n:,}"] for e, n in diff["effects"].items() if n] or [["(none)", "0"]]))
        tables.append(("Action transitions", ["old → new", "listings"],
                       [[t, f"{n:,}"] for t, n in diff["transitions"].items()] or [["(none)", "0"]]))
        tables.append(("Changes grouped by rule", ["rule id", "newly violated", "no longer violated",
                                                   "points/regions changed"],
                       [[r, f"{c['added']:,}", f"{c['removed']:,}", f"{c['changed']:,}"]
                        for r, c in list(diff["rules"].items())[:50]] or [["(none)", "0", "0", "0"]]))
    return tables


def _run_facts(final: dict[str, Any]) -> list[tuple[str, str]]:
    st = final["stats"]
    total = final.get("elapsed_total") or 0
    attempts = final.get("attempts", [])
    facts = [("input", f"{final['input']['path']} ({final['input']['format']}, {final['input']['size']:,} bytes)"),
             ("output", final.get("output", "")), ("errors file", final.get("errors", "")),
             ("input positions", f"{st['records']:,} (decided {st['decided']:,}, bad {st['errors']:,}, "
                                 f"blank {st['blank']:,})"),
             ("policy version", final["policy_version"]),
             ("as of", final["as_of"] or f"each listing's as_of, else {final['default_day']}"),
             ("time", f"{total:,.1f} s over {len(attempts)} attempt(s)"
                      + (f", {st['records'] / total:,.0f} input rows/s" if total else "")),
             ("workers", ", ".join(str(a.get("workers")) for a in attempts))]
    return facts


def render_markdown(final: dict[str, Any], diff: Optional[dict[str, Any]]) -> str:
    out = [f"# Rescan report: {Path(final.get('output', 'output')).name}", ""]
    for k, v in _run_facts(final):
        out.append(f"- **{k}**: {v}")
    out.append("")

    def cell(s: str) -> str:
        return s.replace("|", "\\|").replace("\n", " ")

    for title, header, rows in _sections(final, diff):
        out += [f"## {title}", "", "| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
        out += ["| " + " | ".join(cell(c) for c in r) + " |" for r in rows]
        out.append("")
    out += ["## Data files", "", "| file | sha256 |", "|---|---|"]
    out += [f"| {k} | `{v}` |" for k, v in final["data_digests"].items()]
    return "\n".join(out) + "\n"


def chart_svg(final: dict[str, Any]) -> Optional[str]:
    """Actions and top rules as an inline SVG (None when matplotlib is missing)."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return None
    st = final["stats"]
    rules = sorted(st["rules"].items(), key=lambda kv: (-kv[1], kv[0]))[:10][::-1]
    with matplotlib.rc_context({"svg.fonttype": "none", "font.size": 9}):
        fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(10, 3.4), gridspec_kw={"width_ratios": [1, 1.6]})
        counts = [st["actions"].get(a, 0) for a in ACTIONS]
        ax1.bar(ACTIONS, counts, color=[ACTION_COLOURS[a] for a in ACTIONS])
        ax1.set_title("Decisions per action")
        ax1.set_yscale("symlog")
        for i, n in enumerate(counts):
            ax1.annotate(f"{n:,}", (i, n), ha="center", va="bottom", fontsize=8)
        if rules:
            ax2.barh([r for r, _ in rules], [n for _, n in rules], color="#5c6bc0")
        ax2.set_title("Top rules (listings)")
        fig.tight_layout()
        buf = io.StringIO()
        fig.savefig(buf, format="svg")
        plt.close(fig)
    svg = buf.getvalue()
    return svg[svg.find("<svg"):]


def render_html(final: dict[str, Any], diff: Optional[dict[str, Any]]) -> str:
    e = html.escape
    parts = ["<!doctype html><html lang='en'><head><meta charset='utf-8'>",
             f"<title>Rescan report: {e(Path(final.get('output', 'output')).name)}</title>",
             "<style>body{font-family:system-ui,sans-serif;margin:2em;max-width:70em}"
             "table{border-collapse:collapse;margin:.5em 0 1.5em}td,th{border:1px solid #ccc;padding:.2em .6em;"
             "text-align:left}td:nth-child(n+2){font-variant-numeric:tabular-nums}code{font-size:.85em}</style>",
             "</head><body>", f"<h1>Rescan report: {e(Path(final.get('output', 'output')).name)}</h1>", "<ul>"]
    parts += [f"<li><b>{e(k)}</b>: {e(str(v))}</li>" for k, v in _run_facts(final)]
    parts.append("</ul>")
    svg = chart_svg(final)
    if svg:
        parts += ["<figure>", svg, "<figcaption>Decisions per action (log scale) and the ten most frequent rules."
                  "</figcaption></figure>"]
    for title, header, rows in _sections(final, diff):
        parts.append(f"<h2>{e(title)}</h2><table><tr>" + "".join(f"<th>{e(h)}</th>" for h in header) + "</tr>")
        parts += ["<tr>" + "".join(f"<td>{e(c)}</td>" for c in r) + "</tr>" for r in rows]
        parts.append("</table>")
    parts.append("<h2>Data files</h2><table><tr><th>file</th><th>sha256</th></tr>")
    parts += [f"<tr><td>{e(k)}</td><td><code>{e(v)}</code></td></tr>" for k, v in final["data_digests"].items()]
    parts.append("</table></body></html>")
    return "\n".join(parts) + "\n"


def write_reports(output: Path, final: dict[str, Any], diff: Optional[dict[str, Any]]) -> list[Path]:
    md, page = sibling(output, ".report.md"), sibling(output, ".report.html")
    with atomic_writer(md) as fh:
        fh.write(render_markdown(final, diff).encode())
    with atomic_writer(page) as fh:
        fh.write(render_html(final, diff).encode())
    return [md, page]
