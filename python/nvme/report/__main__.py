"""python3 -m nvme.report [--no-charts] DIR...: renders the report.json of each
DIR (or of each DIR/*/ holding one) into PNG charts, report.html and report.pdf."""
import argparse
import glob
import os
import sys

from .render import render


def report_dirs(path):
    if os.path.exists(os.path.join(path, "report.json")):
        return [path]
    return sorted(os.path.dirname(p) for p in glob.glob(os.path.join(path, "*", "report.json")))


def main():
    ap = argparse.ArgumentParser(prog="python3 -m nvme.report", description=__doc__)
    ap.add_argument("dirs", nargs="+")
    ap.add_argument("--no-charts", action="store_true", help="HTML only, no matplotlib")
    args = ap.parse_args()
    found = [d for p in args.dirs for d in report_dirs(p)]
    if not found:
        sys.exit(f"nvme.report: no report.json in {', '.join(args.dirs)}")
    for d in found:
        paths = render(d, charts=not args.no_charts)
        print(f"{paths['html']}" + (f", {paths['pdf']}, {len(paths['png'])} charts"
                                    if paths["pdf"] else ""))
    return 0


if __name__ == "__main__":
    sys.exit(main())
