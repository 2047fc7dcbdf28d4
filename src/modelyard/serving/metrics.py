"""Prometheus metrics of the model server.

With several worker processes the CLI sets ``PROMETHEUS_MULTIPROC_DIR`` (read by
prometheus-client) before the workers start and turns ``ServerOptions.multiprocess_metrics`` on;
``/metrics`` then aggregates every worker's values.
"""

from __future__ import annotations

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)

__all__ = ["CONTENT_TYPE_LATEST", "ServerMetrics"]

_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.0075, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
            5.0, 10.0)
_FINE = (0.0001, 0.00025, 0.0005, 0.001, 0.002, 0.003, 0.005, 0.0075, 0.01, 0.015, 0.025,
         0.05, 0.1, 0.25, 0.5, 1.0)
_LABELS = ("endpoint", "route", "model", "model_version")


class _RouteMetrics:
    __slots__ = ("batch_rows", "errors", "latency", "requests", "rows")

    def __init__(self, m: ServerMetrics, labels: tuple[str, str, str, str]) -> None:
        self.requests = m.requests.labels(*labels)
        self.rows = m.rows.labels(*labels)
        self.latency = m.latency.labels(*labels)
        self.batch_rows = m.batch_rows.labels(*labels)
        self.errors = {kind: m.errors.labels(*labels, kind) for kind in ("model", "log")}


class ServerMetrics:
    """The server's metrics on a registry of its own (one per server, so tests that start
    several servers in one process do not collide)."""

    def __init__(self, *, multiprocess: bool = False) -> None:
        self.multiprocess = multiprocess
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self.requests = Counter("modelyard_predict_requests", "Prediction requests answered",
                                _LABELS, registry=r)
        self.rows = Counter("modelyard_predict_rows", "Rows predicted", _LABELS, registry=r)
        self.errors = Counter("modelyard_predict_errors", "Prediction requests that failed",
                              (*_LABELS, "kind"), registry=r)
        self.latency = Histogram("modelyard_predict_latency_seconds",
                                 "Time from request to answer", _LABELS, buckets=_BUCKETS,
                                 registry=r)
        self.shadow = Counter("modelyard_shadow_predictions", "Shadow predictions logged",
                              ("endpoint", "route", "model", "model_version", "outcome"),
                              registry=r)
        self.rejected = Counter("modelyard_http_rejected", "Requests refused before a model "
                                "ran", ("endpoint", "status"), registry=r)
        self.grpc = Counter("modelyard_grpc_requests", "gRPC calls by method and status code",
                            ("method", "code"), registry=r)
        self.switches = Counter("modelyard_model_switches", "Hot switches of a route's model",
                                ("endpoint", "route"), registry=r)
        self.canary_weight = Gauge("modelyard_canary_weight", "Traffic percent of a canary",
                                   ("endpoint", "route"), registry=r,
                                   multiprocess_mode="mostrecent")
        self.endpoint_ready = Gauge("modelyard_endpoint_ready", "1 when every route of an "
                                    "endpoint serves a model, else 0", ("endpoint",),
                                    registry=r, multiprocess_mode="livemin")
        self.load_failures = Counter("modelyard_model_load_failures", "Model loads that failed "
                                     "(a route keeps what it served; retried on every poll)",
                                     ("endpoint", "route"), registry=r)
        # where a request's time goes besides the model (see timing.py)
        self.loop_lag = Histogram("modelyard_event_loop_lag_seconds", "How late the event "
                                  "loop ran a timer (sampled 20 times a second): time the "
                                  "loop was busy or the process was not scheduled",
                                  buckets=_FINE, registry=r)
        self.gc_pause = Histogram("modelyard_gc_pause_seconds", "Garbage collections of the "
                                  "server process (every thread waits)", ("generation",),
                                  buckets=_FINE, registry=r)
        self.log_wait = Histogram("modelyard_prediction_log_wait_seconds", "From handing a "
                                  "request's records to the log writer to their fsync being "
                                  "confirmed (durable mode)", buckets=_FINE, registry=r)
        self.batch_rows = Histogram("modelyard_batch_rows", "Rows predicted in one call of a "
                                    "route's model (requests gathered by the micro-batcher)",
                                    _LABELS,
                                    buckets=(1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024),
                                    registry=r)
        self._routes: dict[tuple[str, str, str, str], _RouteMetrics] = {}

    def route(self, endpoint: str, route: str, model: str, version: int) -> _RouteMetrics:
        key = (endpoint, route, model, str(version))
        m = self._routes.get(key)
        if m is None:
            m = self._routes[key] = _RouteMetrics(self, key)
        return m

    def render(self) -> bytes:
        if self.multiprocess:
            from prometheus_client import multiprocess

            registry = CollectorRegistry()
            multiprocess.MultiProcessCollector(registry)
            return generate_latest(registry)
        return generate_latest(self.registry)


