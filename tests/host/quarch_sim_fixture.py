"""Starts tools/quarch_sim.py as its own process for a test (real sockets or
a real pseudo-terminal) and stops it afterwards."""
import os
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SIM = os.path.join(ROOT, "tools", "quarch_sim.py")
sys.path.insert(0, os.path.join(ROOT, "python"))


class Simulator:
    def __init__(self, *flags):
        self.proc = subprocess.Popen([sys.executable, SIM, "--port", "0", *flags],
                                     stdout=subprocess.PIPE, text=True)
        deadline = time.monotonic() + 10
        line = ""
        while "listening on" not in line:
            if time.monotonic() > deadline or self.proc.poll() is not None:
                self.stop()
                raise RuntimeError(f"quarch_sim.py did not start: {line!r}")
            line = self.proc.stdout.readline()
        self.address = line.split("listening on ", 1)[1].strip()

    def stop(self):
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait(5)
        self.proc.stdout.close()
