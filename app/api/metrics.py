"""Prometheus metrics (one :class:`CollectorRegistry` per app, so several apps can live in one
process) and the outermost ASGI middleware that counts every request and turns an unexpected
exception into the standard 500 body."""

from __future__ import annotations

import logging
import time
from typing import Any

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Gauge, Histogram, generate_latest

from app.api.errors import dumps, error_body

log = logging.getLogger("app.api")

LATENCY_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.0075, 0.01, 0.015, 0.025, 0.05, 0.1, 0.25, 0.5,
                   1.0, 2.5, 5.0, 10.0)
UNMATCHED = "<unmatched>"  # label for requests that matched no route (keeps cardinality bounded)


class Metrics:
    content_type = CONTENT_TYPE_LATEST

    def __init__(self, registry: CollectorRegistry | None = None):
        self.registry = registry or CollectorRegistry(auto_describe=True)
        r = self.registry
        self.requests = Counter("moderation_http_requests_total", "HTTP requests by route, method and status",
                                ["route", "method", "status"], registry=r)
        self.latency = Histogram("moderation_http_request_duration_seconds",
                                 "HTTP request latency by route (until the last body byte is sent)",
                                 ["route"], buckets=LATENCY_BUCKETS, registry=r)
        self.decisions = Counter("moderation_decisions_total", "Decisions by action", ["action"], registry=r)
        self.violations = Counter("moderation_violations_total", "Violations by category and rule id",
                                  ["category", "rule_id"], registry=r)
        self.batch_slot_errors = Counter("moderation_batch_slot_errors_total",
                                         "Batch slots rejected by validation", registry=r)
        self.reloads = Counter("moderation_reloads_total", "Data reloads by trigger and outcome",
                               ["trigger", "outcome"], registry=r)
        self.policy_info = Gauge("moderation_policy_info", "The policy version being served (value 1)",
                                 ["version"], registry=r)
        self.unhandled = Counter("moderation_unhandled_exceptions_total",
                                 "Requests that ended in an unexpected exception (500)", registry=r)

    def watch_store(self, store: Any) -> None:
        """Export the store's group-commit writer counters (:mod:`app.store.writer`) at scrape time."""
        self.registry.register(_StoreWriterCollector(store))

    def observe_decision(self, decision: Any) -> None:
        self.decisions.labels(decision.action).inc()
        for v in decision.violations:
            self.violations.labels(v.category, v.rule_id).inc()

    def set_policy_version(self, version: str | None) -> None:
        self.policy_info.clear()
        if version is not None:
            self.policy_info.labels(version).set(1)

    def render(self) -> bytes:
        return generate_latest(self.registry)


class _StoreWriterCollector:
    """``moderation_store_group_commits_total`` (transactions), ``..._grouped_writes_total`` (requests
    written by them) and ``..._grouped_records_total`` (decisions): writes / commits is the mean group
    size; ``..._group_fallbacks_total`` counts groups that failed and were retried one by one."""

    def __init__(self, store: Any):
        self.store = store

    def describe(self):
        return []

    def collect(self):
        from prometheus_client.core import CounterMetricFamily

        writer = getattr(self.store, "_writer", None)
        s = writer.stats if writer is not None else None
        for name, doc, value in (
                ("moderation_store_group_commits", "Group-commit transactions of the store writer", "groups"),
                ("moderation_store_grouped_writes", "Requests written by group commits", "jobs"),
                ("moderation_store_grouped_records", "Decisions written by group commits", "records"),
                ("moderation_store_group_fallbacks", "Groups that failed and were written one by one", "fallbacks")):
            yield CounterMetricFamily(name, doc, value=getattr(s, value) if s is not None else 0)


class MetricsMiddleware:
    """Pure ASGI (no BaseHTTPMiddleware overhead). Records route/method/status and latency; any
    exception that escapes the app is logged and answered with a 500 in the standard shape (the
    server never leaks a traceback and never drops the connection without an answer)."""

    def __init__(self, app, metrics: Metrics):
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        status = 500
        started = False

        async def send_wrapper(message):
            nonlocal status, started
            if message["type"] == "http.response.start":
                status = message["status"]
                started = True
            await send(message)

        try:
            await self.app(scope, receive, send_wrapper)
        except Exception:
            self.metrics.unhandled.inc()
            log.exception("unhandled error on %s %s", scope.get("method"), scope.get("path"))
            status = 500
            if started:  # too late for a clean answer: let the server close the connection
                raise
            body = dumps(error_body("internal_error",
                                    "the server failed on this request; it has been logged, retry later "
                                    "or report the request time to the operators", None))
            await send({"type": "http.response.start", "status": 500,
                        "headers": [(b"content-type", b"application/json"),
                                    (b"content-length", str(len(body)).encode())]})
            await send({"type": "http.response.body", "body": body})
        finally:
            route = scope.get("route")
            label = getattr(route, "path", None) or UNMATCHED
            self.metrics.requests.labels(label, scope.get("method", ""), str(status)).inc()
            self.metrics.latency.labels(label).observe(time.perf_counter() - start)
