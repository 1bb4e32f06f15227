"""The performance suites (scripts/performance) in their quick profile on the
emulated SSD, as a user runs them; then each report is checked against its
own raw data: every section present, the tables recomputed from the raw
rounds, steady state recomputed from the tracking values, the percentiles
from the distributions. Bad options end before any IO (SMART's host write
and read command counts do not move).

The suites run once (a module fixture, about 3.5 minutes under TCG); their
reports are written as JSON and the HTML is rendered without charts here
(matplotlib on the emulated CPU takes minutes per report; the host renders
the charts in ./run.sh main and perf, and tests/host checks every chart kind).
"""
import json
import os
import re
import html
import subprocess
import sys

import pytest

import nvme as d

# The suites purge with Format NVM and compare SMART counters: the test bed's
# QEMU controller, not the software one (deselected there).
pytestmark = pytest.mark.testbed

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(ROOT, "scripts", "performance"))

from perflib import options, percentiles, steady_state, tables  # noqa: E402
from perflib.variant import PtsVariant  # noqa: E402
from nvme.report import format_value, render  # noqa: E402

SUITES = ("everyday-admin", "everyday-fresh-steady", "everyday-reset", "everyday-power",
          "jedec-client", "jedec-enterprise", "pts-iops", "pts-latency", "pts-throughput",
          "pts-client-iops", "pts-client-latency", "pts-client-throughput", "pts-wsat", "qos")
QUICK, _ = options.resolve("quick", [])


def run_suites(pciaddr, out, *args):
    env = dict(os.environ, PYNVME_REPORT_DEFER="1")
    env.pop("PYNVME_PERF_PROFILE", None)
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q", "-rfE",
         f"--pciaddr={pciaddr}", os.path.join(ROOT, "scripts", "performance"),
         "--perf-profile", "quick", "--perf-out", str(out), *args],
        cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def smart_commands(pciaddr):
    """(host read commands, host write commands) from the SMART / Health log."""
    p = d.Pcie(pciaddr)
    c = d.Controller(p)
    try:
        buf = d.Buffer(512)
        c.getlogpage(0x02, buf, 512).waitdone()
        return buf.data(79, 64), buf.data(95, 80)
    finally:
        c.close()
        p.close()


# Targets met (pts-iops, pts-latency), and for everyday-admin one missed and
# one naming no metric (a typo): that suite, and only it, must fail.
TARGETS = """
["pts-iops"]
"IOPS 4 KiB R/W 0/100" = { min = 1 }
["pts-latency"]
"99% latency 4 KiB R/W 100/0" = { max = 100000000 }
["everyday-admin"]
"Identify Controller average" = { max = 0 }
"Identify Controler average" = { max = 1000 }
"""


@pytest.fixture(scope="module")
def reports(pciaddr, tmp_path_factory):
    out = tmp_path_factory.mktemp("perf")
    (out / "targets.toml").write_text(TARGETS)
    proc = run_suites(pciaddr, out, "--perf-targets", str(out / "targets.toml"))
    print(proc.stdout[-3000:])
    failed = re.findall(r"^FAILED (\S+)", proc.stdout, re.M)
    assert len(failed) == 1 and failed[0].endswith("test_everyday.py::test_admin_latency"), \
        proc.stdout[-3000:]
    assert "target Identify Controller average:" in proc.stdout
    assert "target 'Identify Controler average': no such metric in everyday-admin" in proc.stdout
    docs = {}
    for name in SUITES:
        render(str(out / name), charts=False)
        with open(out / name / "report.json") as f:
            docs[name] = json.load(f)
        docs[name]["html"] = (out / name / "report.html").read_text()
    return docs


def html_cells(page):
    return {html.unescape(c) for c in re.findall(r"<td[^>]*>([^<]*)</td>", page)}


def check_common(doc, sections):
    """Identity, parameters, the sections, every table cell printed as the JSON says."""
    assert doc["device"]["model"] and doc["device"]["serial"]
    assert doc["device"]["capacity (LBAs)"] > 0 and doc["parameters"]["profile"] == "quick"
    titles = [s["title"] for s in doc["sections"]]
    for title in sections:
        assert title in titles, f"{doc['name']}: no section {title!r} in {titles}"
        assert f">{html.escape(title)}</h2>" in doc["html"]
    cells = html_cells(doc["html"])
    for s in doc["sections"]:
        for item in s["items"]:
            if item["type"] == "table":
                for row in item["rows"]:
                    for v in row:
                        assert format_value(v) in cells, (doc["name"], item["caption"], v)
            if item["type"] == "figure":
                assert f"chart {item['name']}: not rendered" in doc["html"]
                assert item["spec"]["title"]
    return {s["title"]: s for s in doc["sections"]}


def table(section, caption):
    return next(it for it in section["items"] if it["type"] == "table" and it["caption"] == caption)


def check_steady_state(doc):
    data = doc["data"]
    ss = steady_state.find_steady_state(data["tracking"]["values"], QUICK["window"])
    assert ss.reached == data["steady_state"]["reached"]
    assert ss.round == data["steady_state"]["round"] == len(data["tracking"]["values"])
    assert ss.round <= QUICK["max_rounds"]
    if not ss.reached:
        assert any("not reached by round" in n for n in doc["notes"])
    return set(range(ss.window.first_round, ss.window.last_round + 1))


def check_variant(doc):
    """Enterprise: the whole range. Client: its segments, as the PTS-C lays
    them out (equal, sorted, not touching, inside the ActiveRange, adding up to
    the ActiveRange amount), and the report says so."""
    client = doc["name"].startswith("pts-client-")
    assert doc["parameters"]["PTS variant"] == doc["data"]["variant"] == \
        ("client" if client else "enterprise")
    if not client:
        assert "client" not in doc["title"]
        return None
    assert doc["title"].startswith("SNIA PTS client ")
    ar = doc["data"]["active_range"]
    segs = ar["segments"]
    lba = doc["device"]["LBA size (B)"]
    assert len(segs) == QUICK["ptsc_segments"]
    assert len({e - b for b, e in segs}) == 1 and (segs[0][1] - segs[0][0]) * lba == \
        ar["segment_bytes"] == options.parse_size(QUICK["ptsc_ar_amount"]) // len(segs)
    assert all(a[1] < b[0] for a, b in zip(segs, segs[1:])), "segments touch or overlap"
    assert segs[0][0] >= 0 and segs[-1][1] <= ar["lbas"]
    assert any(n.startswith("PTS variant: client (PTS-C): ActiveRange 100%") and
               f"{len(segs)} segments" in n for n in doc["notes"])
    assert "client (PTS-C)" in doc["html"]
    return segs


@pytest.mark.parametrize("name", ["pts-iops", "pts-client-iops"])
def test_pts_iops_report(reports, name):
    doc = reports[name]
    check_variant(doc)
    sections = check_common(doc, ("Steady state", "IOPS"))
    window = check_steady_state(doc)
    rounds = doc["data"]["rounds"]
    assert doc["data"]["tracking"]["values"] == [tables.series(rounds, 4096, 0, "iops")[i]
                                                 for i in range(len(rounds))]
    sizes, mixes = sorted(QUICK["iops_block_sizes"]), sorted(QUICK["iops_mixes"], reverse=True)
    for r in rounds:
        assert {(c["bs"], c["read_pct"]) for c in r["cells"]} == {(b, m) for b in sizes for m in mixes}
        assert all(c["iops"] > 0 and c["ios"] > 0 for c in r["cells"])
    cols, rows = tables.mix_size_table(rounds, sizes, mixes, "iops", window)
    t = table(sections["IOPS"], "IOPS by block size (rows) and R/W mix (columns)")
    assert t["columns"] == cols and t["rows"] == rows
    metrics = doc["data"]["metrics"]
    assert metrics["IOPS 4 KiB R/W 0/100"]["value"] == rows[0][-1]
    assert any(n.startswith("purge: Format NVM") for n in doc["notes"])
    assert doc["data"]["preconditioning"]["fills"] == 2
    if name != "pts-iops":     # the targets name the enterprise report only
        assert doc["targets"] == []
        return
    assert doc["targets"] == [{"metric": "IOPS 4 KiB R/W 0/100", "value": rows[0][-1],
                               "unit": "IOPS", "minimum": 1, "maximum": None, "passed": True}]
    assert "<tr class='pass'><td>IOPS 4 KiB R/W 0/100</td>" in doc["html"]


@pytest.mark.parametrize("name", ["pts-throughput", "pts-client-throughput"])
def test_pts_throughput_report(reports, nvme0, name):
    doc = reports[name]
    check_variant(doc)
    sections = check_common(doc, ("128 KiB sequential", "Throughput"))
    per_bs = doc["data"]["block_sizes"]
    for bs, v in per_bs.items():
        ss = steady_state.find_steady_state(v["tracking"], QUICK["window"])
        assert ss.reached == v["steady_state"]["reached"]
        window = range(ss.window.first_round, ss.window.last_round + 1)
        writes = [c["mbps"] for r in v["rounds"] if r["round"] in window for c in r["cells"]
                  if c["read_pct"] == 0]
        assert v["write_mbps"] == pytest.approx(sum(writes) / len(writes))
        assert v["tracking"] == [c["mbps"] for r in v["rounds"] for c in r["cells"]
                                 if c["read_pct"] == 0]
    t = table(sections["Throughput"], "Steady-state throughput")
    assert [row[0] for row in t["rows"]] == [options.size_label(int(b)) for b in per_bs]
    asked = QUICK["ptsc_tp_block_sizes" if "client" in name else "tp_block_sizes"]
    if nvme0.mdts >= 1024 * 1024:  # main.toml's MDTS: the PTS's 1024 KiB runs
        assert sorted(per_bs, key=int) == [str(bs) for bs in sorted(asked)]
    else:                          # test.toml's: 1024 KiB is left out, and said so
        assert "1048576" not in per_bs
        assert any("1024 KiB is above the controller's maximum transfer size" in n
                   for n in doc["notes"])


def sparse_percentile(pairs, pct):
    """The percentile by its definition, on [[us, count], ...]: an
    implementation apart from perflib's, to check it."""
    total = sum(n for _, n in pairs)
    done = 0
    for us, n in sorted(pairs):
        done += n
        if done * 100 >= pct * total * (1 - 1e-12):
            return us


def merge_sparse(lists):
    out = {}
    for pairs in lists:
        for us, n in pairs:
            out[us] = out.get(us, 0) + n
    return sorted([us, n] for us, n in out.items())


@pytest.mark.parametrize("name", ["pts-latency", "pts-client-latency"])
def test_pts_latency_report(reports, name):
    doc = reports[name]
    check_variant(doc)
    sections = check_common(doc, ("Steady state", "Latency"))
    window = check_steady_state(doc)
    t = table(sections["Latency"], "Response times")
    for x, row in zip(doc["data"]["window_summary"], t["rows"]):
        merged = merge_sparse([c["distribution"] for r in doc["data"]["rounds"]
                               if r["round"] in window for c in r["cells"]
                               if (c["bs"], c["read_pct"]) == (x["bs"], x["read_pct"])])
        assert x["distribution"] == merged and sum(n for _, n in merged) == x["ios"] > 0
        pct = [sparse_percentile(merged, p) for p in percentiles.QOS_PERCENTILES]
        assert row[4:8] == pct and row[8] == merged[-1][0]
        assert pct == sorted(pct) and pct[-1] <= row[8]
        assert row[3] == pytest.approx(tables.window_average(
            doc["data"]["rounds"], x["bs"], x["read_pct"], "lat_avg_us", window))


def test_pts_wsat_report(reports):
    doc = reports["pts-wsat"]
    check_common(doc, ("Write saturation",))
    rounds = doc["data"]["rounds"]
    tgbw = [r["tgbw"] for r in rounds]
    assert tgbw == sorted(tgbw) and all(r["iops"] > 0 for r in rounds)
    goal = QUICK["wsat_fills"] * 64 * 1024 * 1024
    written = sum(r["writes"] for r in rounds) * 4096
    assert tgbw[-1] == pytest.approx(written / 1e9)
    assert written >= goal - 4096 or any("time limit" in n for n in doc["notes"])
    assert len(rounds) >= 2


def test_qos_report(reports):
    doc = reports["qos"]
    sections = check_common(doc, ("QoS", "IOPS consistency"))
    runs = doc["data"]["runs"]
    assert [(x["read_pct"], x["qdepth"]) for x in runs] == [
        (rp, qd) for rp in (100, 0) for qd in QUICK["qos_qdepths"]]
    t = table(sections["QoS"], "Latency percentiles")
    for x, row in zip(runs, t["rows"]):
        pairs = x["distribution"]
        assert sum(n for _, n in pairs) == x["ios"] and row[5:9] == [
            sparse_percentile(pairs, p) for p in percentiles.QOS_PERCENTILES]
        secs = x["iops_each_second"]
        assert len(secs) >= QUICK["qos_time"] - 1 and sum(secs) <= x["ios"]
        assert x["iops_cov_pct"] == pytest.approx(percentiles.coefficient_of_variation(secs))


def test_jedec_enterprise_report(reports):
    doc = reports["jedec-enterprise"]
    check_common(doc, ("Workload", "What was sent", "Write amplification"))
    s = doc["data"]["summary"]
    # the drive counted exactly the write commands the workers completed
    assert s["smart_host_write_commands"] == s["worker_write_commands"] > 0
    assert s["smart_host_bytes_written"] == pytest.approx(s["expected_host_bytes"], rel=0.05)
    n = s["sampled_ios"]
    assert n > 2000
    shares = [100.0 * z / n for z in s["sampled_zones"]]
    for got, want in zip(shares, (50, 30, 20)):
        assert abs(got - want) < 5, shares
    assert abs(100.0 * s["sampled_by_size"]["4096"] / n - 67) < 5
    assert any("write amplification not available" in note for note in doc["notes"])


def test_jedec_client_report(reports):
    doc = reports["jedec-client"]
    check_common(doc, ("Trace", "Replay", "Host writes"))
    info, res = doc["data"]["trace"], doc["data"]["result"]
    assert info["ios"] == QUICK["client_ios"] == res["ios"]
    assert (res["worker_reads"], res["worker_writes"]) == (info["reads"], info["writes"])
    assert res["smart_host_write_commands"] == info["writes"]
    # SMART counts data units of 512,000 bytes, rounded up
    assert abs(res["smart_host_bytes_written"] - info["write_bytes"]) <= 512000
    assert sum(info["sizes"].values()) == info["ios"]
    assert any("not the JEDEC trace" in n for n in doc["notes"])
    assert any("write amplification not available" in n for n in doc["notes"])


def test_everyday_reports(reports):
    doc = reports["everyday-fresh-steady"]
    check_common(doc, ("Fresh against steady",))
    res = doc["data"]["results"]
    assert [x["state"] for x in res] == ["fresh"] * 4 + ["steady"] * 4
    assert all(x["iops"] > 0 for x in res)
    doc = reports["everyday-reset"]
    check_common(doc, ("Reset to ready",))
    cycles = doc["data"]["cycles"]
    assert len(cycles) == QUICK["cycles"]
    assert all(0 < c["ready_ms"] < c["first_io_ms"] for c in cycles)
    doc = reports["everyday-power"]
    check_common(doc, ("Power-on to ready",))
    cycles = doc["data"]["cycles"]
    assert len(cycles) == QUICK["cycles"]
    assert all(0 < c["power_on_ms"] <= c["ready_ms"] < c["first_io_ms"] for c in cycles)
    assert doc["parameters"]["power control"] == "the PCIe slot's power control"
    doc = reports["everyday-admin"]
    check_common(doc, ("Admin commands",))
    assert [t["passed"] for t in doc["targets"]] == [False]
    assert sum(n.startswith("FAILED target") for n in doc["notes"]) == 2
    assert all(len(v) == QUICK["admin_repeats"] and min(v) > 0
               for v in doc["data"]["samples_us"].values())


def test_bad_mix_ends_the_run_before_any_io(pciaddr, tmp_path):
    """The whole path a user sees: pytest on the suites, one line naming the
    option, no IO sent, no report."""
    before = smart_commands(pciaddr)
    proc = run_suites(pciaddr, tmp_path, "--perf", "iops_mixes=70/40", "-k", "test_pts_iops")
    assert proc.returncode != 0
    assert "performance options: mix '70/40' sums to 110%" in proc.stdout, proc.stdout[-2000:]
    assert "Traceback" not in proc.stdout
    assert smart_commands(pciaddr) == before
    assert not list(tmp_path.glob("*/report.json"))


@pytest.mark.parametrize("option, check, message", [
    ("lat_block_sizes=0.75k", lambda run: run.block_sizes("lat_block_sizes"),
     "block size 0.75 KiB (768 B) is not a multiple of the namespace's LBA size (512 B)"),
    ("tp_block_sizes=1024k", lambda run: run.block_sizes("tp_block_sizes"),
     "is above the controller's maximum transfer size"),
    ("range=1t", None, "is beyond the namespace"),
    ("iops_qdepth=5000", lambda run: run.qdepth("iops_qdepth"), "the controller allows"),
    ("ptsc_ar_amount=1g", lambda run: PtsVariant(run, "client"),
     "ptsc_ar_amount 1g is larger than the ActiveRange (100% of the tested range: 65536 KiB)"),
    ("ptsc_segments=1024", lambda run: PtsVariant(run, "client").check_block_sizes(
        run.block_sizes("iops_block_sizes"), "iops_block_sizes"),
     "iops_block_sizes: block size 128 KiB does not fit in a client segment of 32 KiB"),
])
def test_options_checked_against_the_namespace(pcie, nvme0, nvme0n1, tmp_path, option, check,
                                               message):
    """What the suites check before their first IO (the same PerfRun they get)."""
    from perflib.context import PerfRun
    opts, given = options.resolve("quick", [option])
    if option.startswith("tp_") and nvme0.mdts >= 1024 * 1024:
        pytest.skip("this controller's MDTS allows 1024 KiB")
    with pytest.raises(options.OptionError, match=re.escape(message)):
        run = PerfRun(pcie, nvme0, nvme0n1, "quick", opts, given, str(tmp_path), {}, print)
        check(run)
