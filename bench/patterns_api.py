"""The pattern search API end to end under concurrent load (issue 5, bench part 4), beside the
cheapest authenticated endpoint of the same stack as its ceiling, in one run.

Set-up, in a database of its own (``bench_patterns_api`` on the configured server, dropped at
the end unless ``--keep-db``): the whole public Reddit WorldNews + DJIA corpus, built by
``public_corpus_build`` and indexed by ``corpus_index`` (73,573 headlines, ~2,000 days with the
Dow's forward returns), a throwaway organization with an owner and a read-scoped API key. The
headline vectors come from the cache ``bench.patterns_search`` keeps in ``.run/bench/`` (the same
encoder and weights, so the same numbers ``corpus_index`` would compute); headlines missing from
it are embedded by ``corpus_index`` itself.

The server is the real one: gunicorn started exactly as ``scripts/run.py`` starts it (the same
argument list and ``asterweb/gunicorn_conf.py``: gthread workers and threads as ``WEB_WORKERS`` and
``WEB_THREADS`` say, by default two workers per core with two threads each) on a free port, with
the environment pointing it at the bench database and at Redis logical database
``BENCH_REDIS_DB`` (default 12; only this bench's ``patterns:*`` keys are deleted there),
``DEBUG=0``, and the daily search quota and the per-key and per-user rate limits raised so they
never answer 429 (their Redis counters still run). It is stopped (SIGTERM to its process group,
then SIGKILL) however the run ends.

Load: N client threads in this process (``--clients``, default 1, 8, 16), each on its own
keep-alive HTTP connection, share a queue of 500 distinct real query texts (crypto news titles,
not in the corpus) and POST ``/api/v1/orgs/<slug>/corpora/<id>/search/`` with
``{"text": ..., "limit": 10}``: text → embedding → HNSW headline search → day rows with forward
returns → headlines → JSON. Per concurrency level:

- uncached: the Redis search cache is cleared first, so every request does the whole search
  (each response's ``cached`` flag is checked);
- cached: the same 500 texts again, now answered from Redis;
- ceiling: ``GET .../patterns/quota/`` (API key authentication, organization resolution, the
  throttle, one Redis read: the cheapest authenticated API path), and ``GET /healthz``.

p50/p99 latency (from sending the request to the last byte of the response, in the client) and
requests/s (completed requests over the phase's wall time) are printed with the ratios to the
targets (p50 ≤ 30 ms, p99 ≤ 100 ms) and to the ceiling. The clients share the 2 cores with the
server, so they take part of the capacity they measure. The search service is also timed in this
process one query at a time (``search_days_uncached``, no HTTP, no cache, the encoder on one
thread as in a web worker): the floor under the API's latency. Beside each phase's client-side
p50 is Django's own p50 for the same requests (``duration_ms`` of the workers' request log lines).

    python -m bench patterns_api
    python -m bench.patterns --part api [--clients 1,8,16] [--texts 500] [--keep-db]
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import importlib.util
import json
import os
import queue
import runpy
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from unittest import mock
from urllib.parse import urlsplit, urlunsplit

from bench import Timing, human_duration, setup_django

ROOT = Path(__file__).resolve().parent.parent
DATABASE = "bench_patterns_api"
REDIS_DB = int(os.environ.get("BENCH_REDIS_DB", "12"))
ORG_SLUG = "bench-patterns-api"
TARGET_P50 = 0.030
TARGET_P99 = 0.100
CLIENTS = "1,8,16"
TEXTS = 500
WARMUP_TEXTS = 40
CEILING_REQUESTS = 1_000
CORPUS_SLUG = "reddit-worldnews-djia"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--clients", default=CLIENTS, help="comma-separated concurrency levels")
    parser.add_argument("--texts", type=int, default=TEXTS, help="distinct query texts per phase")
    parser.add_argument("--keep-db", action="store_true", help="keep the bench database (and reuse a matching one)")


# ---------------------------------------------------------------- the database


@contextlib.contextmanager
def api_database(keep: bool) -> Iterator[str]:
    from django.db import connection

    original = connection.settings_dict["NAME"]
    connection.settings_dict["TEST"]["NAME"] = DATABASE
    name = connection.creation.create_test_db(verbosity=0, autoclobber=True, serialize=False, keepdb=keep)
    try:
        yield name
    finally:
        connection.close()
        if keep:
            connection.settings_dict["NAME"] = original
        else:
            connection.creation.destroy_test_db(original, verbosity=0)


def seed_corpus(data_dir: Path) -> tuple[object, str]:
    """The whole Reddit + DJIA public corpus, indexed; returns (corpus, what was done)."""
    from django.db import connection

    from bench.patterns_search import build_index, index_definition, index_name, real_headlines
    from patterns.models import Corpus
    from patterns.services.indexing import corpus_index
    from patterns.services.public_corpora import public_corpus_build, public_corpus_spec
    from patterns.services.vectors import copy_rows

    corpus = Corpus.all_objects.filter(organization=None, slug=CORPUS_SLUG, status=Corpus.Status.READY).first()
    if corpus is not None and corpus.headline_count:
        return corpus, "reused the kept database"
    started = time.perf_counter()
    corpus, report = public_corpus_build(public_corpus_spec(CORPUS_SLUG), data_dir)
    built = time.perf_counter() - started

    # Vectors from the cache, written the way indexing writes them (COPY into a temporary table,
    # one UPDATE), with the HNSW index rebuilt afterwards by the migration's own DDL.
    real = real_headlines(data_dir)
    by_key = {(day, text): row for row, (day, text) in enumerate(zip(real.days, real.texts, strict=True))}
    with connection.cursor() as cursor:
        cursor.execute("SELECT id, day, text FROM patterns_headline WHERE corpus_id = %s", [corpus.pk])
        stored = cursor.fetchall()
    known = [(row_id, by_key[(day, text)]) for row_id, day, text in stored if (day, text) in by_key]
    started = time.perf_counter()
    ddl, _, _ = index_definition(None, None)
    with connection.cursor() as cursor:
        cursor.execute(f"DROP INDEX {index_name()}")
        cursor.execute("CREATE TEMP TABLE bench_vectors (id bigint, vector vector(384))")
    copy_rows(
        "bench_vectors",
        ("id", "vector"),
        ("int8", "vector"),
        ((row_id, real.vectors[row]) for row_id, row in known),
    )
    with connection.cursor() as cursor:
        cursor.execute("UPDATE patterns_headline h SET vector = v.vector FROM bench_vectors v WHERE h.id = v.id")
        cursor.execute("DROP TABLE bench_vectors")
    build_index(ddl, len(stored))
    filled = time.perf_counter() - started
    started = time.perf_counter()
    result = corpus_index(corpus.pk)
    indexed = time.perf_counter() - started
    corpus.refresh_from_db()
    return corpus, (
        f"built the corpus ({report.read:,} rows read, {len(stored):,} headlines stored) in {built:.1f} s;"
        f" {len(known):,} vectors from the cache + HNSW rebuilt in {filled:.1f} s; corpus_index"
        f" ({result.headlines_embedded:,} embedded, {result.days_written:,} days written) in {indexed:.1f} s"
    )


def seed_key() -> str:
    """A throwaway organization, its owner and a read-scoped API key; returns the key."""
    from accounts.models import Membership, Organization, Scope, User
    from accounts.services.api_keys import api_key_create
    from accounts.services.organizations import organization_create

    Organization.objects.filter(slug=ORG_SLUG).delete()
    user = User.objects.filter(email="bench-api@bench.invalid").first() or User.objects.create_user(
        "bench-api@bench.invalid"
    )
    organization = organization_create(user=user, name="Bench patterns API", slug=ORG_SLUG)
    membership = Membership.objects.for_org(organization).get(user=user)
    issued = api_key_create(organization=organization, membership=membership, name="bench", scopes=[Scope.READ])
    return issued.secret


# ---------------------------------------------------------------- the server


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def web_argv(port: int, control_socket: Path) -> list[str]:
    """The gunicorn command ``scripts/run.py`` runs for ``make run``, on ``port``."""
    scripts = str(ROOT / "scripts")
    sys.path.insert(0, scripts)
    try:
        spec = importlib.util.spec_from_file_location("asterai_run_script", ROOT / "scripts" / "run.py")
        module = importlib.util.module_from_spec(spec)
        sys.modules[spec.name] = module  # dataclasses look their module up there
        spec.loader.exec_module(module)
    finally:
        sys.path.remove(scripts)
        sys.modules.pop("asterai_run_script", None)
    web = next(child for child in module.children(port, free_port()) if child.name == "web")
    argv = [sys.executable if part == module.PY else part for part in web.argv]
    if "--control-socket" in argv:  # make run's socket lives in .run/: use our own
        argv[argv.index("--control-socket") + 1] = str(control_socket)
    return argv


def database_url(name: str) -> str:
    parts = urlsplit(os.environ["DATABASE_URL"])
    head, _, _ = parts.path.rpartition("/")
    return urlunsplit(parts._replace(path=f"{head}/{name}"))


def redis_url() -> str:
    from django.conf import settings

    parts = urlsplit(settings.REDIS_URL)
    return urlunsplit(parts._replace(path=f"/{REDIS_DB}"))


def clear_search_cache() -> int:
    import redis

    client = redis.Redis.from_url(redis_url())
    removed = 0
    for pattern in ("patterns:search:*", "patterns:quota:*"):
        keys = list(client.scan_iter(pattern, count=1000))
        if keys:
            removed += client.delete(*keys)
    client.close()
    return removed


@dataclass
class Server:
    argv: list[str]
    env: dict[str, str]
    log_path: Path
    proc: subprocess.Popen | None = None
    _log_offset: int = 0

    def request_durations(self) -> list[float]:
        """Seconds Django spent on each request logged since the last call: the ``duration_ms``
        of RequestLogMiddleware's summary line (inside Django; not gunicorn, HTTP or the client)."""
        with self.log_path.open("rb") as handle:
            handle.seek(self._log_offset)
            chunk = handle.read()
        complete = chunk[: chunk.rfind(b"\n") + 1]
        self._log_offset += len(complete)
        durations = []
        for line in complete.splitlines():
            if not line.startswith(b"{"):
                continue
            with contextlib.suppress(ValueError):
                record = json.loads(line)
                if record.get("event") == "request" and "duration_ms" in record:
                    durations.append(record["duration_ms"] / 1000)
        return durations

    def start(self, port: int, timeout: float = 60.0) -> None:
        log = self.log_path.open("w")
        self.proc = subprocess.Popen(  # noqa: S603 - our own gunicorn command line
            self.argv,
            cwd=ROOT,
            env=self.env,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group: stopped as one below
        )
        log.close()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise SystemExit(f"gunicorn exited with {self.proc.returncode}: see {self.log_path}")
            try:
                connection = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
                connection.request("GET", "/healthz")
                if connection.getresponse().status == 200:
                    connection.close()
                    return
            except OSError:
                pass
            time.sleep(0.2)
        raise SystemExit(f"gunicorn did not answer on port {port} within {timeout:.0f} s: see {self.log_path}")

    def stop(self) -> None:
        if self.proc is None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGTERM)
        try:
            self.proc.wait(15)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(5)
        # gunicorn's workers are in the same group: make sure none outlived the arbiter.
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                os.killpg(self.proc.pid, 0)
            except ProcessLookupError:
                break
            time.sleep(0.1)
        else:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGKILL)


# ---------------------------------------------------------------- load


@dataclass
class Phase:
    name: str
    clients: int
    seconds: list[float] = field(default_factory=list)
    wall: float = 0.0
    errors: list[str] = field(default_factory=list)
    cached: int = 0
    server_seconds: list[float] = field(default_factory=list)  # inside Django, per request

    @property
    def timing(self) -> Timing:
        return Timing(self.name, self.seconds)

    @property
    def rate(self) -> float:
        return len(self.seconds) / self.wall if self.wall else 0.0


def drive(
    port: int, requests: list[tuple[str, str, bytes | None]], headers: dict[str, str], clients: int, name: str
) -> Phase:
    """Send ``requests`` (method, path, body) from ``clients`` threads, each on a keep-alive
    connection, as fast as the answers come back."""
    work: queue.SimpleQueue = queue.SimpleQueue()
    for item in requests:
        work.put(item)
    phase = Phase(name, clients)
    lock = threading.Lock()
    start_line = threading.Barrier(clients + 1)

    def client() -> None:
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        samples, errors, cached = [], [], 0
        start_line.wait()
        while True:
            try:
                method, path, body = work.get_nowait()
            except queue.Empty:
                break
            started = time.perf_counter_ns()
            try:
                connection.request(method, path, body=body, headers=headers)
                response = connection.getresponse()
                payload = response.read()
            except (OSError, http.client.HTTPException) as error:
                errors.append(f"{type(error).__name__}: {error}")
                connection.close()
                connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
                continue
            elapsed = (time.perf_counter_ns() - started) / 1e9
            if response.status != 200:
                errors.append(f"{response.status}: {payload[:200]!r}")
                continue
            samples.append(elapsed)
            if body is not None and json.loads(payload).get("cached"):
                cached += 1
        connection.close()
        with lock:
            phase.seconds.extend(samples)
            phase.errors.extend(errors)
            phase.cached += cached

    threads = [threading.Thread(target=client, name=f"client-{index}") for index in range(clients)]
    for thread in threads:
        thread.start()
    start_line.wait()
    started = time.perf_counter()
    for thread in threads:
        thread.join()
    phase.wall = time.perf_counter() - started
    return phase


def search_requests(path: str, texts: list[str]) -> list[tuple[str, str, bytes]]:
    return [("POST", path, json.dumps({"text": text, "limit": 10}).encode()) for text in texts]


# ---------------------------------------------------------------- the part


def query_texts(data_dir: Path, count: int) -> tuple[list[str], list[str]]:
    """``count`` distinct crypto news titles spread over the file, and others for the warm-up."""
    from bench.patterns_search import crypto_titles, spread

    titles = [title for title in crypto_titles(data_dir) if 3 <= len(title) <= 1000]
    chosen = spread(titles, count)
    chosen_set = set(chosen)
    warmup = [title for title in titles if title not in chosen_set][:WARMUP_TEXTS]
    return chosen, warmup


def in_process(corpus, texts: list[str]) -> tuple[Timing, dict[str, float]]:
    """``search_days_uncached`` one query at a time in this process (no HTTP, no cache), and the
    mean time per query spent in each private function of ``patterns.services.search`` (wrapped
    with a clock; inclusive, so a function's time contains its callees') and in the encoder."""
    import inspect

    from patterns.services import search

    stages = [
        name
        for name, value in vars(search).items()
        if inspect.isfunction(value)
        and value.__module__ == search.__name__
        and name.startswith("_")
        and not name.startswith("__")
    ]

    spent: dict[str, float] = {}

    def clocked(name, function):
        def wrapper(*args, **kwargs):
            started = time.perf_counter_ns()
            try:
                return function(*args, **kwargs)
            finally:
                spent[name] = spent.get(name, 0.0) + (time.perf_counter_ns() - started) / 1e9

        return wrapper

    for text in texts[:5]:
        search.search_days_uncached(corpus, search.SearchRequest(text=text, limit=10))
    samples = []
    with contextlib.ExitStack() as stack:
        stack.enter_context(mock.patch.object(search.news, "encode_one", clocked("encode_one", search.news.encode_one)))
        for name in stages:
            stack.enter_context(mock.patch.object(search, name, clocked(name, getattr(search, name))))
        for text in texts:
            started = time.perf_counter_ns()
            search.search_days_uncached(corpus, search.SearchRequest(text=text, limit=10))
            samples.append((time.perf_counter_ns() - started) / 1e9)
    return Timing("search_days_uncached in-process", samples), {
        name: seconds / len(texts) for name, seconds in spent.items()
    }


def report(phases: list[Phase], floor: Timing) -> list[str]:
    header = (
        f"{'case':<44}{'clients':>8}{'n':>6}{'p50':>10}{'p99':>10}{'req/s':>9}{'p50/30ms':>10}{'p99/100ms':>11}"
        f"{'Django p50':>12}"
    )
    lines = [header, "-" * len(header)]
    lines.append(
        f"{'search_days_uncached in-process (no HTTP)':<44}{1:>8}{floor.n:>6}{human_duration(floor.median):>10}"
        f"{human_duration(floor.percentile(99)):>10}{1 / floor.median:>9.0f}"
        f"{floor.median / TARGET_P50:>10.2f}{floor.percentile(99) / TARGET_P99:>11.2f}"
    )
    for phase in phases:
        timing = phase.timing
        if not timing.n:
            lines.append(f"{phase.name:<44}{phase.clients:>8}     0  (every request failed)")
            continue
        lines.append(
            f"{phase.name:<44}{phase.clients:>8}{timing.n:>6}{human_duration(timing.median):>10}"
            f"{human_duration(timing.percentile(99)):>10}{phase.rate:>9.0f}"
            f"{timing.median / TARGET_P50:>10.2f}{timing.percentile(99) / TARGET_P99:>11.2f}"
            f"{human_duration(statistics.median(phase.server_seconds)) if phase.server_seconds else '-':>12}"
        )
    lines.append(
        "Django p50: the server's own time per request (RequestLogMiddleware's duration_ms, logged by"
        " the workers); the rest of p50 is gunicorn, HTTP, waiting for a free worker thread and the client"
    )
    return lines


def run(args: argparse.Namespace) -> None:
    # The in-process floor runs the encoder on one thread, as every web worker does (asterweb.wsgi).
    os.environ.setdefault("PATTERNS_ONNX_THREADS", "1")
    setup_django()
    from django.conf import settings

    print(f"load average {' / '.join(f'{value:.2f}' for value in os.getloadavg())} on {os.cpu_count()} cores")
    data_dir = Path(settings.SHARED_DATA_DIR)
    levels = [int(value) for value in str(args.clients).split(",") if value.strip()]
    texts, warmup = query_texts(data_dir, args.texts)
    phases: list[Phase] = []
    with api_database(args.keep_db) as name, tempfile.TemporaryDirectory(prefix="bench-api-") as scratch:
        started = time.perf_counter()
        corpus, how = seed_corpus(data_dir)
        print(f"seeded {name} in {time.perf_counter() - started:.1f} s: {how}", flush=True)
        print(
            f"corpus {corpus.pk}: {corpus.headline_count:,} headlines, {corpus.day_count:,} days"
            f" ({corpus.news_day_count:,} with news, {corpus.market_day_count:,} with the Dow)",
            flush=True,
        )
        key = seed_key()
        floor, stages = in_process(corpus, warmup[:WARMUP_TEXTS])

        port = free_port()
        env = {
            **os.environ,
            "DATABASE_URL": database_url(name),
            "REDIS_URL": redis_url(),
            "DJANGO_SETTINGS_MODULE": os.environ.get("DJANGO_SETTINGS_MODULE", "asterweb.settings.dev"),
            "DEBUG": "0",
            "PATTERNS_PUBLIC_CORPORA": "1",
            "PATTERNS_DAILY_SEARCH_QUOTA": str(10**9),
            "API_RATE_PER_KEY": "10000000/min",
            "API_RATE_PER_USER": "10000000/min",
            "PYTHONUNBUFFERED": "1",
        }
        server = Server(web_argv(port, Path(scratch) / "gunicorn.ctl"), env, Path(scratch) / "gunicorn.log")
        try:
            server.start(port)
            layout = runpy.run_path(str(ROOT / "asterweb" / "gunicorn_conf.py"))
            print(
                f"gunicorn (pid {server.proc.pid}, {layout['workers']} workers x {layout['threads']} threads):"
                f" {' '.join(server.argv[1:])}",
                flush=True,
            )
            headers = {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}
            search_path = f"/api/v1/orgs/{ORG_SLUG}/corpora/{corpus.pk}/search/"
            quota_path = f"/api/v1/orgs/{ORG_SLUG}/patterns/quota/"
            clear_search_cache()
            # Warm-up: each worker loads the encoder and opens its database connection.
            drive(port, search_requests(search_path, warmup), headers, 4, "warm-up")
            server.request_durations()
            for clients in levels:
                clear_search_cache()
                uncached = drive(port, search_requests(search_path, texts), headers, clients, "search API, uncached")
                uncached.server_seconds = server.request_durations()
                cached = drive(port, search_requests(search_path, texts), headers, clients, "search API, cached")
                cached.server_seconds = server.request_durations()
                ceiling = drive(
                    port,
                    [("GET", quota_path, None)] * CEILING_REQUESTS,
                    headers,
                    clients,
                    "ceiling: GET quota (key auth + Redis)",
                )
                ceiling.server_seconds = server.request_durations()
                health = drive(port, [("GET", "/healthz", None)] * CEILING_REQUESTS, {}, clients, "ceiling: /healthz")
                health.server_seconds = server.request_durations()
                phases.extend([uncached, cached, ceiling, health])
                print(
                    f"clients {clients}: uncached p50 {human_duration(uncached.timing.median)}"
                    f" ({uncached.rate:.0f} req/s, {uncached.cached} from the cache, {len(uncached.errors)} errors);"
                    f" cached p50 {human_duration(cached.timing.median)}; ceiling {ceiling.rate:.0f} req/s",
                    flush=True,
                )
        finally:
            server.stop()
            clear_search_cache()
        log_tail = (Path(scratch) / "gunicorn.log").read_text(errors="replace").splitlines()[-3:]
    print()
    for line in report(phases, floor):
        print(line)
    print()
    for clients in levels:
        by_name = {phase.name: phase for phase in phases if phase.clients == clients}
        uncached, cached = by_name["search API, uncached"], by_name["search API, cached"]
        ceiling = by_name["ceiling: GET quota (key auth + Redis)"]
        if not (uncached.timing.n and ceiling.timing.n and cached.timing.n):
            continue
        verdict = (
            "met" if uncached.timing.median <= TARGET_P50 and uncached.timing.percentile(99) <= TARGET_P99 else "MISSED"
        )
        print(
            f"{clients:>2} clients: uncached search {uncached.rate:.0f} req/s = {uncached.rate / ceiling.rate:.2f}x"
            f" the ceiling's {ceiling.rate:.0f} req/s; p50 {uncached.timing.median / ceiling.timing.median:.1f}x"
            f" the ceiling's; cached {cached.rate / ceiling.rate:.2f}x the ceiling; targets (p50 ≤ 30 ms,"
            f" p99 ≤ 100 ms) {verdict}"
        )
        for phase in by_name.values():
            if phase.errors:
                print(f"   {phase.name}: {len(phase.errors)} errors, e.g. {phase.errors[0]}")
            if phase.name.endswith("uncached") and phase.cached:
                print(f"   WARNING: {phase.cached} 'uncached' answers came from the cache")
    busy = [line for line in log_tail if "Traceback" in line or "ERROR" in line]
    if busy:
        print("gunicorn log tail:", *busy, sep="\n  ")
    print(
        "in-process, mean time per query in each function (inclusive): "
        + ", ".join(
            f"{name.strip('_')} {human_duration(seconds)}"
            for name, seconds in sorted(stages.items(), key=lambda item: -item[1])
            if seconds >= 5e-5
        )
        + f" (of {human_duration(sum(floor.samples) / floor.n)} in all)"
    )
    print(
        f"in-process service time (no HTTP, one at a time): p50 {human_duration(floor.median)}; with 2 cores, a"
        f" throughput near {2 / floor.median:.0f} req/s is the most the search could reach even with free HTTP"
    )


def main() -> None:
    """``python -m bench patterns_api``: the defaults."""
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    run(parser.parse_args([]))


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_arguments(parser)
    run(parser.parse_args())
