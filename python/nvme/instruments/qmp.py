"""A tiny QMP client: talks to QEMU's monitor from inside the test-bed guest,
through the virtio-serial port whose path the test bed puts in $PYNVME_QMP.

The port is a byte stream shared by every test of a guest run: the greeting
may or may not be waiting (it arrives once per boot), capabilities may be
negotiated already, and answers of earlier sessions may still be buffered.
So every command carries an id and only the answer with that id counts.
"""
import itertools
import json
import os
import select
import time

from .base import InstrumentError

_ids = itertools.count(1)


class QmpError(InstrumentError):
    pass


class Qmp:
    def __init__(self, path=None):
        path = path or os.environ.get("PYNVME_QMP")
        if not path:
            raise QmpError("no QMP port: $PYNVME_QMP is not set (not in the test bed?)")
        self.fd = os.open(path, os.O_RDWR | os.O_NOCTTY | os.O_NONBLOCK)
        self.pending = b""
        self._drain()
        # may answer an error when an earlier session negotiated already
        self.command("qmp_capabilities", check=False)

    def close(self):
        os.close(self.fd)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def _drain(self):
        while select.select([self.fd], [], [], 0.05)[0]:
            try:
                if not os.read(self.fd, 65536):
                    break
            except BlockingIOError:
                break
        self.pending = b""

    def _readline(self, deadline):
        while b"\n" not in self.pending:
            left = deadline - time.monotonic()
            if left <= 0:
                raise QmpError("no answer from QMP")
            if select.select([self.fd], [], [], left)[0]:
                try:
                    self.pending += os.read(self.fd, 65536)
                except BlockingIOError:
                    pass
        line, self.pending = self.pending.split(b"\n", 1)
        return line

    def command(self, execute, arguments=None, check=True, timeout=10):
        cid = f"pynvme-{os.getpid()}-{next(_ids)}"
        msg = {"execute": execute, "id": cid}
        if arguments is not None:
            msg["arguments"] = arguments
        os.write(self.fd, json.dumps(msg).encode() + b"\n")
        deadline = time.monotonic() + timeout
        while True:
            line = self._readline(deadline).strip()
            if not line:
                continue
            try:
                reply = json.loads(line)
            except ValueError:
                continue  # a partial line of an earlier session
            if reply.get("id") != cid:
                continue  # greeting, events, answers to others
            if "error" in reply:
                if check:
                    raise QmpError(f"{execute}: {reply['error']}")
                return reply["error"]
            return reply.get("return")

    def human(self, command_line, timeout=10):
        """Runs a human-monitor (HMP) command, for what QMP has no command of
        its own (pcie_aer_inject_error); returns its text output."""
        return self.command("human-monitor-command", {"command-line": command_line},
                            timeout=timeout) or ""

    def qom_set(self, path, prop, value):
        return self.command("qom-set", {"path": path, "property": prop, "value": value})

    def qom_get(self, path, prop):
        return self.command("qom-get", {"path": path, "property": prop})

    def nvme_ns_path(self, ctrl_index, nsid):
        """QOM path of the test bed's nvme-ns device of controller `ctrl_index`
        (id nvme<i>) and namespace `nsid` (its drive is node c<i>n<nsid>)."""
        node = f"c{ctrl_index}n{nsid}"
        for child in self.command("qom-list", {"path": "/machine/peripheral-anon"}):
            if child.get("type") != "child<nvme-ns>":
                continue
            path = "/machine/peripheral-anon/" + child["name"]
            if self.qom_get(path, "drive") == node:
                return path
        raise QmpError(f"no nvme-ns with drive {node}")

    def throttle(self, qom_path, iops):
        """Limits a guest device's block backend to `iops` (0: unlimited)."""
        args = {"id": qom_path, "bps": 0, "bps_rd": 0, "bps_wr": 0,
                "iops": iops, "iops_rd": 0, "iops_wr": 0}
        return self.command("block_set_io_throttle", args)
