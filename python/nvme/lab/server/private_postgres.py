"""A throwaway PostgreSQL cluster in a temporary folder, listening only on a Unix
socket there: the lab's tests and its scale benchmark run against a real server
with no service installed or running. Run as root, the server runs as `nobody`
(PostgreSQL refuses root); as anyone else, as that user."""
import glob
import os
import pwd
import secrets
import shutil
import subprocess
import tempfile

RUN_AS_ROOT_USER = "nobody"


class PostgresError(RuntimeError):
    """The cluster could not be made or started; the message has its log's tail."""


def bin_dir():
    """$PYNVME_PG_BIN, else the newest /usr/lib/postgresql/<version>/bin (Debian)."""
    if os.environ.get("PYNVME_PG_BIN"):
        return os.environ["PYNVME_PG_BIN"]
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"),
                   key=lambda p: int(p.split("/")[4]) if p.split("/")[4].isdigit() else 0)
    if not found:
        raise PostgresError("no PostgreSQL server: /usr/lib/postgresql/*/bin/pg_ctl is missing "
                            "(apt-get install postgresql, or set PYNVME_PG_BIN)")
    return os.path.dirname(found[-1])


class PrivatePostgres:
    """start() makes and starts the cluster, url(db) connects to database db, stop()
    stops it and removes the folder. settings: extra server settings (name: value)."""

    def __init__(self, settings=None, user="lab"):
        self.settings = dict(settings or {})
        self.user = user
        self.password = secrets.token_hex(12)
        self.folder = None
        self.bin = bin_dir()
        self.as_root = os.geteuid() == 0

    def _run(self, *args, check=True):
        cmd = [os.path.join(self.bin, args[0]), *args[1:]]
        if self.as_root:
            cmd = ["runuser", "-u", RUN_AS_ROOT_USER, "--"] + cmd
        p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                           cwd=self.folder)
        if check and p.returncode != 0:
            raise PostgresError(f"{args[0]} failed ({p.returncode}): {p.stdout.strip()[-2000:]}"
                                f"{self._log_tail()}")
        return p

    def _log_tail(self):
        try:
            with open(self.log) as f:
                return "\nserver log:\n" + f.read()[-2000:]
        except (OSError, TypeError):
            return ""

    def _own(self, path):
        if self.as_root:
            pw = pwd.getpwnam(RUN_AS_ROOT_USER)
            os.chown(path, pw.pw_uid, pw.pw_gid)

    @property
    def socket_dir(self):
        return os.path.join(self.folder, "socket")

    @property
    def log(self):
        return os.path.join(self.folder, "server.log") if self.folder else None

    def start(self):
        self.folder = tempfile.mkdtemp(prefix="pynvme-lab-pg-")
        os.chmod(self.folder, 0o755)        # the server's user passes through
        for sub in ("data", "socket"):
            os.mkdir(os.path.join(self.folder, sub), 0o700)
            self._own(os.path.join(self.folder, sub))
        pwfile = os.path.join(self.folder, "socket", "pw")
        with open(pwfile, "w") as f:
            f.write(self.password + "\n")
        self._own(pwfile)
        open(self.log, "w").close()
        self._own(self.log)
        try:
            self._run("initdb", "-D", "data", "-U", self.user, f"--pwfile={pwfile}",
                      "--auth=scram-sha-256", "-E", "UTF8", "--locale=C", "--no-sync")
            os.unlink(pwfile)
            options = {"listen_addresses": "''", "unix_socket_directories": self.socket_dir,
                       "fsync": "off", "synchronous_commit": "off", "full_page_writes": "off",
                       **self.settings}
            self._run("pg_ctl", "-D", "data", "-l", self.log, "-w", "-t", "120",
                      "-o", " ".join(f"-c {k}={v}" for k, v in options.items()), "start")
        except BaseException:
            self.stop()
            raise
        return self

    def url(self, database="postgres"):
        return f"postgresql+psycopg2://{self.user}:{self.password}@/{database}?host={self.socket_dir}"

    def create_database(self, name):
        """A new empty database (name: letters, digits, _); returns its URL."""
        import psycopg2
        conn = psycopg2.connect(dbname="postgres", user=self.user, password=self.password,
                                host=self.socket_dir)
        try:
            conn.autocommit = True
            with conn.cursor() as cur:
                cur.execute(f'CREATE DATABASE "{name}"')
        finally:
            conn.close()
        return self.url(name)

    def stop(self):
        if self.folder is None:
            return
        if os.path.exists(os.path.join(self.folder, "data", "postmaster.pid")):
            # immediate: no shutdown checkpoint, the folder goes next anyway
            self._run("pg_ctl", "-D", "data", "-m", "immediate", "-w", "stop", check=False)
        shutil.rmtree(self.folder, ignore_errors=True)
        self.folder = None

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()
