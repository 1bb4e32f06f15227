"""A stand-in for the lab server's ingest API (docs/lab-format.md) with faults on
demand, for the uploader's tests: it stores each run once by uuid (201 new, 200
duplicate/updated), in a JSON-lines file that survives its being killed.

    python3 fake_lab_server.py --port N --store FILE [--script A,B,...] [--token T]

--script: what the next requests get, one word each, then normal service:
  drop         read the request, close the connection without an answer
  500, 503     answer that status
  400          answer {"error": "run.uuid: missing"}
  store-hang   store the run, then hang before answering (to be killed mid-upload)
  hang         hang before storing (to be killed mid-upload)
"""
import argparse
import json
import os
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class Store:
    """uuid -> document, appended to a file with fsync (what a database commit is)."""

    def __init__(self, path):
        self.path = path
        self.lock = threading.Lock()

    def load(self):
        runs, inserts = {}, 0
        if os.path.exists(self.path):
            with open(self.path) as f:
                for line in f:
                    # a line still being written (a reader in the test) is not stored yet
                    if line.strip() and line.endswith("\n"):
                        doc = json.loads(line)
                        inserts += doc["run"]["uuid"] not in runs
                        runs[doc["run"]["uuid"]] = doc
        return runs, inserts

    def put(self, doc):
        with self.lock:
            runs, _ = self.load()
            old = runs.get(doc["run"]["uuid"])
            if old is not None and old["run"]["finished"]:
                return 200, "duplicate"
            with open(self.path, "a") as f:
                f.write(json.dumps(doc) + "\n")
                f.flush()
                os.fsync(f.fileno())
            return (201, "new") if old is None else (200, "updated")


def make_handler(store, script, token, log):
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args):
            pass

        def answer(self, status, body):
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_POST(self):
            body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            with store.lock:
                step = script.pop(0) if script else "serve"
            log.append(step)
            if step == "drop":
                self.close_connection = True
                self.connection.close()
                return
            if step in ("500", "503"):
                return self.answer(int(step), {"error": "server trouble"})
            if step == "400":
                return self.answer(400, {"error": "run.uuid: missing"})
            if step == "hang":
                time.sleep(3600)
            if self.path != "/api/v1/runs":
                return self.answer(404, {"error": f"no {self.path}"})
            if self.headers.get("Authorization") != f"Bearer {token}":
                return self.answer(401, {"error": "unknown token"})
            doc = json.loads(body)
            status, stored = store.put(doc)
            if step == "store-hang":
                time.sleep(3600)
            self.answer(status, {"uuid": doc["run"]["uuid"], "stored": stored})
    return Handler


def serve(port, store_path, script=(), token="tok"):
    """A server in a thread: (server, log of steps). server.shutdown() stops it."""
    log = []
    httpd = ThreadingHTTPServer(("127.0.0.1", port),
                                make_handler(Store(store_path), list(script), token, log))
    httpd.daemon_threads = True
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    return httpd, log


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--store", required=True)
    ap.add_argument("--script", default="")
    ap.add_argument("--token", default="tok")
    a = ap.parse_args()
    log = []
    httpd = ThreadingHTTPServer(("127.0.0.1", a.port), make_handler(
        Store(a.store), [s for s in a.script.split(",") if s], a.token, log))
    print("listening", flush=True)
    sys.stdout.flush()
    httpd.serve_forever()


if __name__ == "__main__":
    main()
