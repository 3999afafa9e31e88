"""A real PostgreSQL for tests, started by the test itself: ``initdb`` and
``pg_ctl`` from Debian's postgresql-15 (as the ``postgres`` user when the
tests run as root), 127.0.0.1 and a free port, the socket in the server's
own temporary folder. Never the system's service.

    with PostgresServer() as server:
        url = server.new_database()      # postgresql://ravao@127.0.0.1:PORT/test_1
        server.stop(); server.start()    # an outage, on the same port and data
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

from tests.support.mosquitto import free_port

START_TIMEOUT = 30.0


def _bin_dir() -> Path:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=lambda p: int(p.split("/")[4]))
    if not found:
        raise RuntimeError("PostgreSQL is not installed (apt-get install postgresql-15)")
    return Path(found[-1]).parent


class PostgresServer:
    """One throw-away PostgreSQL cluster; every test gets its own database in it."""

    user = "ravao"

    def __init__(self, folder: Path | None = None) -> None:
        """`folder`: a folder to keep the cluster in (and reuse: a benchmark's
        loaded record); by default a temporary one, removed at the end."""
        self.bin = _bin_dir()
        self.port = free_port()
        self.keep = folder is not None
        self.dir = Path(folder) if folder is not None else Path(tempfile.mkdtemp(prefix="ravao-pg-"))
        self.dir.mkdir(parents=True, exist_ok=True)
        self.data = self.dir / "data"
        self.log_path = self.dir / "server.log"
        self._databases = 0
        self._as: list[str] = []
        if os.geteuid() == 0:  # PostgreSQL refuses to run as root
            owner = pwd.getpwnam("postgres")
            os.chown(self.dir, owner.pw_uid, owner.pw_gid)
            self._as = ["runuser", "-u", "postgres", "--"]

    def _run(self, *args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
        # Run from the server's own folder: as `postgres`, the caller's folder
        # (a checkout under /root) may not even be readable, and initdb stops there.
        done = subprocess.run([*self._as, *args], capture_output=True, text=True, timeout=timeout, cwd=self.dir)
        if done.returncode != 0:
            raise RuntimeError(f"{Path(args[0]).name} exited {done.returncode}: {done.stderr.strip()[-1500:]}")
        return done

    def init(self) -> PostgresServer:
        """initdb: a cluster whose superuser is ``ravao``, trusted on loopback only."""
        self._run(str(self.bin / "initdb"), "-D", str(self.data), "-U", self.user, "--auth=trust", "-E", "UTF8",
                  "--locale=C", "--no-instructions")
        return self

    def start(self) -> PostgresServer:
        """Start (again) and wait until it accepts connections."""
        options = f"-p {self.port} -k {self.dir} -c listen_addresses=127.0.0.1 -c max_connections=50"
        self._run(str(self.bin / "pg_ctl"), "-D", str(self.data), "-l", str(self.log_path), "-o", options,
                  "-w", "-t", str(int(START_TIMEOUT)), "start", timeout=START_TIMEOUT + 10)
        return self

    def stop(self, mode: str = "fast") -> None:
        """Stop the server (``fast``: disconnect clients, roll back, shut down cleanly)."""
        if (self.data / "postmaster.pid").exists():
            self._run(str(self.bin / "pg_ctl"), "-D", str(self.data), "-m", mode, "-w", "stop")

    def url(self, database: str = "postgres") -> str:
        """A URL for the central config."""
        return f"postgresql://{self.user}@127.0.0.1:{self.port}/{database}"

    def psql(self, sql: str, database: str = "postgres") -> str:
        """Run SQL through psql; its output."""
        return self._run(str(self.bin / "psql"), "-h", "127.0.0.1", "-p", str(self.port), "-U", self.user,
                         "-d", database, "-At", "-c", sql).stdout

    def new_database(self, name: str | None = None) -> str:
        """A new empty database (or, with `name`, that one, made if missing); its URL."""
        if name is None:
            self._databases += 1
            name = f"test_{self._databases}"
        if not self.psql(f"SELECT 1 FROM pg_database WHERE datname = '{name}'").strip():
            self.psql(f"CREATE DATABASE {name}")
        return self.url(name)

    def log(self) -> str:
        """What the server has logged."""
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def __enter__(self) -> PostgresServer:
        if not (self.data / "PG_VERSION").exists():
            self.init()
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        try:
            self.stop("immediate")
        finally:
            deadline = time.monotonic() + 5
            while (self.data / "postmaster.pid").exists() and time.monotonic() < deadline:
                time.sleep(0.05)
            if not self.keep:
                shutil.rmtree(self.dir, ignore_errors=True)
