"""report.html: one self-contained page (styles inline, charts embedded as
data URIs so the file can be mailed alone; each chart also links its PNG)."""
import base64
import html
import os

from .formatting import format_value

STYLE = """
body{font-family:DejaVu Sans,Arial,sans-serif;margin:24px auto;max-width:1100px;color:#222}
h1{font-size:24px;border-bottom:3px solid #1f4e79;padding-bottom:6px}
h2{font-size:19px;color:#1f4e79;margin-top:32px;border-bottom:1px solid #ccd}
table{border-collapse:collapse;margin:8px 0 16px}
th,td{border:1px solid #c8ccd4;padding:3px 8px;font-size:13px}
th{background:#e8edf4;text-align:left}
td.num{text-align:right;font-variant-numeric:tabular-nums}
caption{caption-side:top;text-align:left;font-weight:bold;font-size:13px;padding:4px 0}
.facts th{width:190px}
tr.pass td.verdict{background:#d9f2d9;font-weight:bold}
tr.fail td.verdict{background:#f8d0d0;font-weight:bold}
.notes li{margin:3px 0}
figure{margin:12px 0 24px}
figure img{max-width:100%;border:1px solid #dde}
figcaption{font-size:13px;color:#444}
.small{font-size:12px;color:#666}
"""


def _cell(value):
    cls = " class='num'" if isinstance(value, (int, float)) and not isinstance(value, bool) else ""
    return f"<td{cls}>{html.escape(format_value(value))}</td>"


def _facts(title, facts):
    rows = "".join(f"<tr><th>{html.escape(str(k))}</th>{_cell(v)}</tr>"
                   for k, v in facts.items())
    return f"<table class='facts'><caption>{html.escape(title)}</caption>{rows}</table>"


def _table(item):
    head = "".join(f"<th>{html.escape(str(c))}</th>" for c in item["columns"])
    body = "".join("<tr>" + "".join(_cell(v) for v in row) + "</tr>" for row in item["rows"])
    cap = f"<caption>{html.escape(item['caption'])}</caption>" if item.get("caption") else ""
    return f"<table>{cap}<tr>{head}</tr>{body}</table>"


def _figure(item, out_dir, embed):
    cap = html.escape(item.get("caption") or "")
    if not embed:
        return (f"<figure class='unrendered' id='{html.escape(item['name'])}'><figcaption>"
                f"[chart {html.escape(item['name'])}: not rendered; python3 -m nvme.report "
                f"DIR draws it] {cap}</figcaption></figure>")
    path = os.path.join(out_dir, item["file"])
    with open(path, "rb") as f:
        data = base64.b64encode(f.read()).decode()
    return (f"<figure><img alt='{html.escape(item['name'])}' src='data:image/png;base64,{data}'>"
            f"<figcaption>{cap} <a class='small' href='{html.escape(item['file'])}'>"
            f"{html.escape(item['file'])}</a></figcaption></figure>")


def _targets(targets):
    if not targets:
        return "<p class='small'>No targets were given for this run.</p>"
    rows = []
    for t in targets:
        limit = " and ".join(x for x in (
            f">= {format_value(t['minimum'])}" if t["minimum"] is not None else "",
            f"<= {format_value(t['maximum'])}" if t["maximum"] is not None else "") if x)
        verdict = "PASS" if t["passed"] else "FAIL"
        rows.append(f"<tr class='{verdict.lower()}'><td>{html.escape(t['metric'])}</td>"
                    f"{_cell(t['value'])}<td>{html.escape(t['unit'])}</td>"
                    f"<td>{html.escape(limit)}</td><td class='verdict'>{verdict}</td></tr>")
    return ("<table><tr><th>metric</th><th>value</th><th>unit</th><th>target</th>"
            "<th>verdict</th></tr>" + "".join(rows) + "</table>")


def render(doc, out_dir, embed_charts=True):
    """The page of a report document (Report.to_json()); PNGs are read from
    out_dir and embedded (embed_charts=False: a placeholder per chart)."""
    parts = [f"<h1>{html.escape(doc['title'])}</h1>",
             "<nav class='small'>" + " | ".join(
                 f"<a href='#s{i}'>{html.escape(s['title'])}</a>"
                 for i, s in enumerate(doc["sections"])) + "</nav>",
             f"<p class='small'>{html.escape(doc['created'])}, {doc['duration_s']} s; raw data: "
             "<a href='report.json'>report.json</a>, printable: "
             "<a href='report.pdf'>report.pdf</a></p>",
             _facts("Device under test", doc["device"]), _facts("Host", doc["host"])]
    if doc["notes"]:
        parts.append("<h2>Notes</h2><ul class='notes'>" + "".join(
            f"<li>{html.escape(n)}</li>" for n in doc["notes"]) + "</ul>")
    parts.append("<h2>Targets</h2>" + _targets(doc["targets"]))
    for i, s in enumerate(doc["sections"]):
        parts.append(f"<h2 id='s{i}'>{html.escape(s['title'])}</h2>")
        for item in s["items"]:
            if item["type"] == "text":
                parts.append(f"<p>{html.escape(item['text'])}</p>")
            elif item["type"] == "table":
                parts.append(_table(item))
            elif item["type"] == "figure":
                parts.append(_figure(item, out_dir, embed_charts))
    parts.append("<h2>Parameters</h2>" + _facts("Every parameter of this run", {
        k: (", ".join(map(str, v)) if isinstance(v, (list, tuple)) else v)
        for k, v in doc["parameters"].items()}))
    return (f"<!doctype html><html><head><meta charset='utf-8'><title>"
            f"{html.escape(doc['title'])}</title><style>{STYLE}</style></head><body>"
            + "\n".join(parts) + "</body></html>\n")
