"""The uploader: sends the spool's runs to the lab server (docs/lab-format.md).

    pynvme-lab upload --server URL --token T [--spool PATH] [--watch]

URL and token also come from PYNVME_LAB_URL and PYNVME_LAB_TOKEN. A run is marked
uploaded only when the server answers 200 or 201; a connection error, a timeout or
a 5xx is tried again with a growing pause until the server answers (or --deadline
passes: the run stays in the spool for the next upload); a 4xx is reported with the
server's message and the run is kept, not retried blindly. Sending a run twice is
harmless: the server stores a uuid once."""
import argparse
import json
import os
import random
import signal
import sys
import time
import urllib.error
import urllib.request

from .project import default_spool_path
from .spool import Spool

API_PATH = "/api/v1/runs"


class Refused(Exception):
    """The server answered 4xx: the document or the token is wrong; retrying the
    same request cannot help."""

    def __init__(self, status, message):
        super().__init__(f"HTTP {status}: {message}")
        self.status = status
        self.message = message


class Unavailable(Exception):
    """No answer, or a 5xx: worth trying again later."""


def runs_url(server):
    """The ingest URL of a server given as its base URL (or as the ingest URL itself)."""
    server = server.rstrip("/")
    return server if server.endswith(API_PATH) else server + API_PATH


def post_run(url, token, document, timeout_s):
    """POSTs one document; returns the server's JSON answer on 200/201."""
    body = json.dumps(document).encode("utf-8")
    req = urllib.request.Request(url, data=body, method="POST", headers={
        "Authorization": f"Bearer {token}", "Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=timeout_s) as resp:
            status, text = resp.status, resp.read()
    except urllib.error.HTTPError as e:
        status, text = e.code, e.read()
    except (OSError, ValueError) as e:
        # URLError, ConnectionResetError, socket.timeout, http.client's errors
        # (RemoteDisconnected is a ConnectionResetError; IncompleteRead: ValueError-free)
        raise Unavailable(f"{type(e).__name__}: {e}") from None
    except Exception as e:  # http.client.HTTPException and the like
        raise Unavailable(f"{type(e).__name__}: {e}") from None
    if status in (200, 201):
        try:
            return json.loads(text or b"{}")
        except ValueError:
            return {}
    message = _error_message(text)
    if 400 <= status < 500:
        raise Refused(status, message)
    raise Unavailable(f"HTTP {status}: {message}")


def _error_message(text):
    try:
        answer = json.loads(text)
        if isinstance(answer, dict) and "error" in answer:
            return str(answer["error"])
    except ValueError:
        pass
    return text.decode("utf-8", "replace")[:500] or "(no body)"


class Backoff:
    """Pauses of base, 2 base, 4 base, ... up to cap seconds, each with +-25% jitter
    (hosts that lost the server together do not come back in step)."""

    def __init__(self, base_s=1.0, cap_s=60.0):
        self.base_s, self.cap_s, self.tries = base_s, cap_s, 0

    def next_pause(self):
        pause = min(self.cap_s, self.base_s * (2 ** self.tries))
        self.tries += 1
        return pause * random.uniform(0.75, 1.25)

    def reset(self):
        self.tries = 0


STORED, REFUSED, UNAVAILABLE = "stored", "refused", "unavailable"


def upload_run(spool, uuid, url, token, timeout_s, backoff, deadline, say):
    """Uploads one run until acknowledged: STORED, REFUSED (4xx) or UNAVAILABLE
    (the deadline passed without an answer); the run stays pending unless STORED."""
    while True:
        document, finished = spool.document(uuid)
        try:
            answer = post_run(url, token, document, timeout_s)
        except Refused as e:
            spool.note_refusal(uuid, str(e))
            say(f"run {uuid} refused by the server ({e}); it stays in the spool")
            return REFUSED
        except Unavailable as e:
            pause = backoff.next_pause()
            if deadline is not None and time.monotonic() + pause > deadline:
                say(f"run {uuid} not uploaded: {e}; it stays in the spool for the next upload")
                return UNAVAILABLE
            say(f"server unavailable ({e}); trying run {uuid} again in {pause:.1f} s")
            time.sleep(pause)
            continue
        spool.mark_uploaded(uuid, finished)
        backoff.reset()
        say(f"run {uuid} uploaded ({answer.get('stored', 'stored')})")
        return STORED


def upload_pending(spool_path, server, token, deadline_s=None, timeout_s=30.0,
                   backoff_base_s=1.0, backoff_cap_s=60.0, say=print, skip=(), only=None):
    """Uploads every pending run of the spool (or those of them in `only`). Returns
    (uploaded, not_uploaded) uuids. deadline_s None: retry until the server answers."""
    if not os.path.exists(spool_path):
        return [], []
    spool = Spool(spool_path)
    url = runs_url(server)
    deadline = None if deadline_s is None else time.monotonic() + deadline_s
    backoff = Backoff(backoff_base_s, backoff_cap_s)
    done, left = [], []
    try:
        pending = [u for u in spool.pending() if only is None or u in only]
        for i, uuid in enumerate(pending):
            if uuid in skip:
                left.append(uuid)
                continue
            result = upload_run(spool, uuid, url, token, timeout_s, backoff, deadline, say)
            (done if result == STORED else left).append(uuid)
            if result == UNAVAILABLE:
                left += [u for u in pending[i + 1:]]    # the server is down: next time
                break
    finally:
        spool.close()
    return done, left


def _last_refusal(spool_path, uuid):
    spool = Spool(spool_path)
    try:
        return spool.run_row(uuid)["upload_error"]
    finally:
        spool.close()


def parse_args(argv):
    ap = argparse.ArgumentParser(
        prog="pynvme-lab upload",
        description="Send the runs recorded in the spool to the lab server (docs/lab.md).")
    ap.add_argument("--server", default=os.environ.get("PYNVME_LAB_URL"),
                    help="the lab server's URL, e.g. http://lab:8080 (env PYNVME_LAB_URL)")
    ap.add_argument("--token", default=os.environ.get("PYNVME_LAB_TOKEN"),
                    help="this host's token (env PYNVME_LAB_TOKEN)")
    ap.add_argument("--spool", default=None,
                    help="the spool (default: env PYNVME_LAB_SPOOL, else "
                         "build/lab/spool.sqlite in the project)")
    ap.add_argument("--watch", action="store_true",
                    help="keep running: upload new runs as they are recorded")
    ap.add_argument("--interval", type=float, default=30.0,
                    help="--watch: seconds between looks at the spool (default 30)")
    ap.add_argument("--deadline", type=float, default=600.0,
                    help="without --watch: give up retrying after this many seconds, "
                         "keeping the rest for the next upload (default 600; 0: retry forever)")
    ap.add_argument("--timeout", type=float, default=60.0,
                    help="seconds to wait for the server's answer to one request (default 60)")
    ap.add_argument("--backoff", type=float, default=1.0,
                    help="the first pause after a failed attempt, doubled up to 60 s (default 1)")
    args = ap.parse_args(argv)
    if not args.server:
        ap.error("no server: give --server URL or set PYNVME_LAB_URL")
    if not args.server.startswith(("http://", "https://")):
        ap.error(f"--server {args.server!r} is not an http:// or https:// URL")
    if not args.token:
        ap.error("no token: give --token T or set PYNVME_LAB_TOKEN")
    args.spool = args.spool or default_spool_path()
    return args


def main(argv=None):
    """`pynvme-lab upload`: 0 when every pending run is uploaded, 1 when some stay."""
    args = parse_args(sys.argv[1:] if argv is None else argv)

    def say(text):
        print(f"pynvme-lab upload: {text}", file=sys.stderr, flush=True)
    if not os.path.exists(args.spool):
        say(f"no spool at {args.spool}: nothing recorded yet")
        if not args.watch:
            return 0
    if not args.watch:
        _, left = upload_pending(args.spool, args.server, args.token,
                                 deadline_s=args.deadline or None, timeout_s=args.timeout,
                                 backoff_base_s=args.backoff, say=say)
        return 1 if left else 0
    # --watch: retry forever; a refused run is not sent again by this process
    # (fix the token or the server, restart the uploader: it is tried again)
    refused = set()
    # a service stops on SIGINT (a terminal's ^C) or SIGTERM (systemd, a CI
    # runner); a shell's background job starts with SIGINT ignored, so both
    # are asked for here rather than inherited
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    try:
        while True:
            if os.path.exists(args.spool):
                _, left = upload_pending(args.spool, args.server, args.token, deadline_s=None,
                                         timeout_s=args.timeout, backoff_base_s=args.backoff,
                                         say=say, skip=refused)
                refused.update(u for u in left if _last_refusal(args.spool, u))
            time.sleep(args.interval)
    except KeyboardInterrupt:
        say("stopped; what is not uploaded stays in the spool")
        return 130


if __name__ == "__main__":
    sys.exit(main())
