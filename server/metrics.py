"""Prometheus metrics of one server process, on a registry of its own (so tests can run several apps).

With `serve --workers N` the supervisor sets `PROMETHEUS_MULTIPROC_DIR` before it spawns the workers
(`multiproc_dir`): every worker then keeps its values in files there, and whichever worker answers a
scrape reports the whole node — counters and histograms summed, the connection gauges summed over the
live workers, the node-wide gauges (queue, alerts) as their largest value, the heartbeat gap per worker
(each worker is a node of the cluster). Without it, one worker's figures were all a scrape saw.
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.multiprocess import MultiProcessCollector, mark_process_dead

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


@dataclass
class Metrics:
    registry: CollectorRegistry = field(default_factory=CollectorRegistry)

    def __post_init__(self) -> None:
        r = self.registry
        self.frames = Counter("rme_relay_frames_total", "Frames received on the relay", ["peer"], registry=r)
        self.relayed = Counter(
            "rme_relay_relayed_total", "Frames forwarded to the other side", ["type"], registry=r
        )
        self.dropped = Counter(
            "rme_relay_dropped_frames_total", "Frames dropped (not allowed, malformed, over limits)",
            ["peer", "reason"], registry=r,
        )  # fmt: skip
        self.agents = Gauge(
            "rme_connected_agents", "Authenticated agent connections", registry=r, multiprocess_mode="livesum"
        )
        self.engineers = Gauge(
            "rme_connected_engineers", "Engineer console connections", registry=r, multiprocess_mode="livesum"
        )
        self.tickets = Counter("rme_tickets_total", "Tickets by how they ended", ["outcome"], registry=r)
        self.help_refused = Counter("rme_help_refused_total", "Help requests refused", ["reason"], registry=r)
        self.logins = Counter("rme_logins_total", "Login attempts", ["result"], registry=r)
        self.audit_failures = Counter("rme_audit_failures_total", "Audit appends that failed", registry=r)
        self.notify = Histogram(
            "rme_help_notify_seconds", "Help request received → queue update sent to engineers",
            buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0), registry=r,
        )  # fmt: skip

        # The supervisor's alerts (`server.kpi.alerts`): what an operator's pager watches.
        self.alert_active = Gauge(
            "rme_alert_active", "1 while the supervisor's alert of this kind is raised", ["kind"], registry=r,
            multiprocess_mode="livemax",
        )  # fmt: skip
        self.heartbeat_gap = Gauge(
            "rme_node_heartbeat_gap_max_seconds",
            "Longest time between two refreshes of this node's row since start (other nodes take it for dead"
            " past node_dead_after)",
            registry=r,
            multiprocess_mode="liveall",  # one series per worker: each is a node of its own
        )
        self.queue_length = Gauge(
            "rme_queue_length",
            "Help requests waiting for an engineer",
            registry=r,
            multiprocess_mode="livemax",
        )
        self.response_rolling = Gauge(
            "rme_response_rolling_seconds", "Mean wait over the last 15 minutes (answered and waiting)",
            registry=r, multiprocess_mode="livemax",
        )  # fmt: skip

    def render(self) -> bytes:
        folder = os.environ.get(MULTIPROC_ENV)
        if not folder:
            return generate_latest(self.registry)
        node = CollectorRegistry()
        MultiProcessCollector(node, folder)  # type: ignore[no-untyped-call]
        return generate_latest(node)


def multiproc_dir(data_dir: Path) -> Path:
    """An empty folder for the workers' metric files, named in the environment the workers inherit.

    Emptied first: files of an earlier run's processes would be counted as this node's."""
    folder = data_dir / "metrics"
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(mode=0o700)
    os.environ[MULTIPROC_ENV] = str(folder)
    return folder


def worker_gone(pid: int) -> None:
    """A worker died: its live gauges (connections, queue) stop counting; its counters stay."""
    folder = os.environ.get(MULTIPROC_ENV)
    if folder:
        mark_process_dead(pid, folder)  # type: ignore[no-untyped-call]
