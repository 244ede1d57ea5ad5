"""Running the API under uvicorn: what ``moderate serve`` starts.

* **Event loop and HTTP parser:** uvloop and httptools when they are installed (both are
  dependencies in pyproject.toml), else asyncio and h11: ``loop="auto"``/``http="auto"``.
* **Access log off** by default (``--access-log`` turns it on): one formatted log line per request
  costs CPU on the request path; ``/metrics`` counts every request by route and status anyway.
* **Workers:** ``workers`` processes share the listening socket, each with its own engine and its
  own group-commit store writer (see :mod:`app.store.writer`; on SQLite the workers' groups take
  turns on a lock file, then the database's write lock). The default is **one** worker
  (:data:`DEFAULT_WORKERS`): measured on the shared 2-core development VM in one interleaved run
  (bench/results/bench_http.md, 2026-11-23), two workers did not beat one at concurrency 16 with
  the store on (p99 93 vs 72 ms, 426 vs 467 requests/s; the load generator and other processes
  share the two cores, and the workers' store groups shrink from 6.3 to 2.1 decisions per
  commit as they take turns on the SQLite file), and each worker holds the whole engine in memory
  (~0.4 GB with the classifier). ``--workers 2`` is there for an idle 2-core machine or a
  PostgreSQL store; re-measure with ``bench/bench_http.py --servers w1:1,w2:2``.
* **Reload with several workers:** ``SIGHUP`` to the supervisor (the ``moderate serve`` process)
  is forwarded to every worker, and each worker reloads its data in place (requests in flight
  finish on the old snapshot; a broken file is rejected and the old data keeps serving, worker by
  worker). uvicorn's own supervisor would instead restart the workers, and a restarted worker
  that meets a broken file would come up not ready in place of one that was serving.
  ``POST /v1/admin/reload`` reaches one worker only.
"""

from __future__ import annotations

import logging
import os
import signal

log = logging.getLogger("app.api")

APP = "app.api.main:create_app"
DEFAULT_WORKERS = 1  # see the module docstring for the measurement behind it


def default_workers() -> int:
    """:data:`DEFAULT_WORKERS`, at most the usable CPUs."""
    try:
        cpus = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        cpus = os.cpu_count() or 1
    return max(1, min(DEFAULT_WORKERS, cpus))


def uvicorn_config(host: str, port: int, workers: int, log_level: str, access_log: bool = False):
    import uvicorn

    return uvicorn.Config(APP, factory=True, host=host, port=port, workers=workers, log_level=log_level,
                          access_log=access_log, loop="auto", http="auto")


def run(host: str, port: int, workers: int = 1, log_level: str = "info", access_log: bool = False) -> None:
    """Serve until SIGINT/SIGTERM: one process with ``workers == 1``, else a supervisor and
    ``workers`` worker processes (see the module docstring for SIGHUP)."""
    import sys

    import uvicorn
    from uvicorn.supervisors import Multiprocess

    config = uvicorn_config(host, port, workers, log_level, access_log)
    server = uvicorn.Server(config)
    if workers <= 1:
        server.run()
        if not server.started:
            sys.exit(3)  # uvicorn's STARTUP_FAILURE
        return

    class Supervisor(Multiprocess):
        def handle_hup(self) -> None:
            """Forward SIGHUP to every worker: each reloads its data in place."""
            pids = [p.pid for p in self.processes if p.pid is not None]
            logging.getLogger("uvicorn.error").info("Received SIGHUP, reloading the data in workers %s", pids)
            for pid in pids:
                try:
                    os.kill(pid, signal.SIGHUP)
                except ProcessLookupError:
                    pass

    sock = config.bind_socket()
    import inspect

    extra = {"target": server.run} if "target" in inspect.signature(Multiprocess.__init__).parameters else {}
    try:
        Supervisor(config, sockets=[sock], **extra).run()  # older uvicorn versions take the target too
    except KeyboardInterrupt:
        pass
