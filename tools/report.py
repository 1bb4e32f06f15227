#!/usr/bin/python3
"""Summarises a pytest JUnit XML file by area: text on the terminal, and an HTML page.

    report.py results.xml [--html report.html] [--title TITLE] [--reports DIR]...

An area is the test module's folder and file under scripts/ or tests/ (for example
`conformance/test_registers`). Each test counts as passed, failed (failures and
errors), skipped, or expected failure (pytest's xfail). With --reports DIR, the suite reports
under DIR (DIR/<suite>/report.json, written by nvme.report, e.g. the
performance suites') are listed and linked. Exits 0; the pytest run that
produced the XML carries the verdict.
"""
import argparse
import collections
import glob
import html
import json
import os
import sys
import xml.etree.ElementTree as ET

OUTCOMES = ("passed", "failed", "skipped", "xfailed")


def outcome(case):
    for child in case:
        if child.tag in ("failure", "error"):
            return "failed", child.get("message", "")
        if child.tag == "skipped":
            kind = child.get("type", "")
            msg = child.get("message", "")
            if "xfail" in kind:
                return "xfailed", msg
            return "skipped", msg
    return "passed", ""


def area_of(case):
    parts = case.get("classname", "").split(".")
    # classname is module path (+ class): drop a leading scripts/tests package and a class.
    if parts and parts[0] in ("scripts", "tests"):
        parts = parts[1:]
    while parts and parts[-1][:1].isupper():
        parts = parts[:-1]
    return "/".join(parts) or "(top)"


def load(path):
    try:
        root = ET.parse(path).getroot()
    except (OSError, ET.ParseError) as e:
        sys.exit(f"report: cannot read {path}: {e}")
    areas = collections.OrderedDict()
    for case in root.iter("testcase"):
        result, msg = outcome(case)
        areas.setdefault(area_of(case), []).append((case.get("name", "?"), result, msg))
    return areas


def text_summary(areas, title):
    width = max([len(a) for a in areas] + [4])
    lines = [title, f"{'area':<{width}}  " + "  ".join(f"{o:>7}" for o in OUTCOMES)]
    totals = collections.Counter()
    for area, cases in areas.items():
        counts = collections.Counter(r for _, r, _ in cases)
        totals.update(counts)
        lines.append(f"{area:<{width}}  " + "  ".join(f"{counts[o]:>7}" for o in OUTCOMES))
    lines.append(f"{'total':<{width}}  " + "  ".join(f"{totals[o]:>7}" for o in OUTCOMES))
    failed = [(a, n, m) for a, cases in areas.items() for n, r, m in cases if r == "failed"]
    if failed:
        lines.append("failed:")
        lines += [f"  {a}::{n}: {m.splitlines()[0] if m else ''}"[:200] for a, n, m in failed]
    return "\n".join(lines)


def suite_reports(folder):
    """(title, path of report.html, pass/fail of its targets, notes) of each
    suite report under folder, in name order."""
    found = []
    for path in sorted(glob.glob(os.path.join(folder, "*", "report.json"))):
        try:
            with open(path) as f:
                doc = json.load(f)
        except (OSError, ValueError) as e:
            found.append((path, None, f"unreadable: {e}", []))
            continue
        failed = [t["metric"] for t in doc.get("targets", []) if not t.get("passed")]
        problems = doc.get("data", {}).get("problems")   # the stress suites' findings
        verdict = (f"{len(failed)} target(s) missed" if failed else
                   f"{len(problems)} problem(s)" if problems else
                   "no problems found" if problems is not None else
                   f"{len(doc.get('targets', []))} target(s) met" if doc.get("targets") else
                   "no targets")
        found.append((doc.get("title", path), os.path.join(os.path.dirname(path), "report.html"),
                      verdict, doc.get("notes", [])))
    return found


def reports_text(reports):
    lines = ["suite reports:"] if reports else []
    lines += [f"  {title}: {page or '-'} ({verdict})" for title, page, verdict, _ in reports]
    return "\n".join(lines)


def reports_html(reports, page_dir):
    if not reports:
        return ""
    rows = []
    for title, page, verdict, notes in reports:
        link = (f"<a href='{html.escape(os.path.relpath(page, page_dir))}'>{html.escape(title)}</a>"
                if page else html.escape(title))
        rows.append(f"<tr><td>{link}</td><td>{html.escape(verdict)}</td>"
                    f"<td>{html.escape('; '.join(notes))}</td></tr>")
    return ("<h2>Suite reports</h2><table><tr><th>report</th><th>targets</th><th>notes</th></tr>"
            + "".join(rows) + "</table><h2>Tests by area</h2>")


def html_page(areas, title, extra=""):
    rows = []
    for area, cases in areas.items():
        counts = collections.Counter(r for _, r, _ in cases)
        rows.append(f"<tr class='area'><th>{html.escape(area)}</th>" +
                    "".join(f"<td>{counts[o]}</td>" for o in OUTCOMES) + "</tr>")
        for name, result, msg in cases:
            rows.append(f"<tr class='{result}'><td class='case'>{html.escape(name)}</td>"
                        f"<td colspan='4'>{result}{': ' + html.escape(msg[:300]) if msg else ''}"
                        "</td></tr>")
    return f"""<!doctype html><html><head><meta charset="utf-8"><title>{html.escape(title)}</title>
<style>body{{font-family:sans-serif}} table{{border-collapse:collapse}}
td,th{{border:1px solid #ccc;padding:2px 6px;text-align:left}} tr.area{{background:#eee}}
tr.failed td{{background:#fdd}} tr.xfailed td{{background:#ffd}} tr.skipped td{{color:#777}}
td.case{{padding-left:2em}}</style></head><body><h1>{html.escape(title)}</h1>
{extra}<table><tr><th>area / test</th>{''.join(f'<th>{o}</th>' for o in OUTCOMES)}</tr>
{''.join(rows)}</table></body></html>
"""


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("junit_xml")
    ap.add_argument("--html")
    ap.add_argument("--title", default="pynvme report")
    ap.add_argument("--reports", metavar="DIR", action="append",
                    help="list and link the suite reports in DIR/*/ (repeatable)")
    args = ap.parse_args()
    areas = load(args.junit_xml)
    reports = [r for folder in args.reports or [] for r in suite_reports(folder)]
    print(text_summary(areas, args.title))
    if reports:
        print(reports_text(reports))
    if args.html:
        extra = reports_html(reports, os.path.dirname(os.path.abspath(args.html)))
        with open(args.html, "w") as f:
            f.write(html_page(areas, args.title, extra))
        print(f"HTML report: {args.html}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
