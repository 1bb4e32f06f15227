"""Illegal commands under IO: random invalid opcodes, fields, PRPs and queue
operations on the admin queue (stresslib/illegal.py) while verified
ioworkers run on disjoint parts of the region. Each command must complete
(a command the controller never answers is completed by the driver after
Controller.timeout and counts as a hang), those the specification says
"shall" fail must complete with an error status (which one is recorded),
the workers must see no data error, and the controller must answer a
legal admin command every 50 illegal ones and at the end."""
import time
import warnings

from conformance_lib import status_text
from stresslib.illegal import IllegalCommands

NUMBER_OF_QUEUES = 0x07
NO_COMPLETION = "no completion (the driver's timeout completed it)"


def send(ctrl, call):
    """Sends one admin command and reaps it. Returns (sct, sc), or None when
    the controller did not complete it (the driver did, after its timeout)."""
    got = []
    with warnings.catch_warnings(record=True):
        warnings.simplefilter("always")     # the driver's 'ERROR status' warnings: values here
        call(lambda cdw0, status1: got.append(status1)).waitdone()
    if not got or got[-1] == 0xffff:
        return None
    return (got[-1] >> 9) & 7, (got[-1] >> 1) & 0xff


def test_illegal_commands_under_io(stress):
    o = stress.opts
    rep = stress.report("illegal-commands-under-io", "Illegal admin commands under verified IO")
    gen = IllegalCommands(stress.ctrl, stress.rng)
    part = stress.region // o["illegal_workers"]
    workers = [stress.start_worker(50, o["illegal_time"], region=(i * part, (i + 1) * part))
               for i in range(o["illegal_workers"])]
    sent, by_kind, accepted, hangs, unresponsive = [], {}, [], [], []
    if o["plant"] == "drop":
        # self-check: the controller never answers the first illegal command
        stress.pcie.inject("drop", sqid=0, count=1)
        stress.ctrl.timeout = 2000
    t0 = time.monotonic()
    while any(w.running for w in workers) and len(sent) < o["illegal_commands"]:
        cmd = gen.draw()
        status = send(stress.ctrl, cmd.send)
        text = NO_COMPLETION if status is None else status_text(status)
        sent.append({"kind": cmd.kind, "command": cmd.text, "status": text,
                     "must_fail": cmd.must_fail})
        by_kind.setdefault(cmd.kind, {}).setdefault(text, 0)
        by_kind[cmd.kind][text] += 1
        if status is None:
            hangs.append(cmd.text)
        elif status == (0, 0):
            accepted.append((cmd.text, cmd.must_fail))
            if cmd.undo:
                cmd.undo()
        if len(sent) % 50 == 0 and send(stress.ctrl, lambda cb: stress.ctrl.getfeatures(
                NUMBER_OF_QUEUES, cb=cb)) != (0, 0):
            unresponsive.append(f"after {len(sent)} illegal commands")
    seconds = time.monotonic() - t0
    results = [stress.finish_worker(w) for w in workers]
    if send(stress.ctrl, lambda cb: stress.ctrl.getfeatures(NUMBER_OF_QUEUES, cb=cb)) != (0, 0):
        unresponsive.append("at the end")
    found, found_text = stress.check_data()
    ios = sum(r.io_count_read + r.io_count_nonread for r, _, _ in results)
    problems = [f"{text}: the controller accepted it (the specification says it shall fail)"
                for text, must in accepted if must]
    problems += [f"{text}: {NO_COMPLETION}" for text in hangs]
    problems += [f"the controller did not answer Get Features {when}" for when in unresponsive]
    problems += [f"worker {i}: {r.error_text or r.error}" for i, (r, _, _) in enumerate(results)
                 if r.error]
    problems += [f"worker {i} hung" for i, (_, _, hung) in enumerate(results) if hung]
    if found["mismatches"] or found["read_errors"]:
        problems.append(f"data lost: {found_text}")
    if not sent:
        problems.append("no illegal command was sent: the workers had stopped at once")
    rep.data.update(commands=sent, by_kind=by_kind, workers=[
        {"ios": r.io_count_read + r.io_count_nonread, "error": r.error_text or r.error}
        for r, _, _ in results], check=found)
    s = rep.section("Summary", (
        f"{len(sent)} illegal admin commands in {seconds:.1f} s while {len(workers)} verified "
        f"50/50 random workers ran (QD{o['qdepth']}, disjoint halves of the region): "
        f"{ios} IOs; afterwards {found_text}. Accepted commands of the 'should' kind (PRP1 "
        "offset) are listed, not failed."))
    s.table(["illegal commands", "completed with an error", "accepted ('shall' fail)",
             "accepted ('should' fail)", "no completion", "worker IOs", "worker errors",
             "mismatches"],
            [[len(sent), len(sent) - len(accepted) - len(hangs),
              sum(1 for _, must in accepted if must), sum(1 for _, must in accepted if not must),
              len(hangs), ios, sum(1 for r, _, _ in results if r.error),
              len(found["mismatches"])]], caption="All commands")
    rows = [[kind, text, n] for kind, statuses in sorted(by_kind.items())
            for text, n in sorted(statuses.items(), key=lambda kv: -kv[1])]
    s.table(["kind", "completion status", "commands"], rows, caption="Statuses by kind")
    kinds = sorted(by_kind)
    s.chart("bar_chart", "commands_by_kind", caption="Illegal commands sent, by kind, and how "
            "many of them the controller refused with an error status.", categories=kinds,
            series={"sent": [sum(by_kind[k].values()) for k in kinds],
                    "refused with an error": [sum(n for t, n in by_kind[k].items()
                                                  if not t.startswith(("00/00", "no completion")))
                                              for k in kinds]},
            title="Illegal admin commands under IO", xlabel="kind", ylabel="commands")
    e = rep.section("Each command", "In the order sent (the first 200; report.json has all).")
    e.table(["#", "kind", "command", "status"],
            [[i + 1, c["kind"], c["command"], c["status"]] for i, c in enumerate(sent[:200])],
            caption="Commands")
    assert not stress.finish(rep, problems), "; ".join(problems[:10])
