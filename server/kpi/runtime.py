"""The supervisor's background work on one node: presence sampling and alert evaluation."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from server.kpi.alerts import Alerts, AlertState, Measurements
from server.kpi.presence import PresenceSampler
from server.relay.services import Services

__all__ = ["KpiRuntime", "start_kpi"]


@dataclass
class KpiRuntime:
    presence: PresenceSampler
    alerts: Alerts

    async def stop(self) -> None:
        await self.alerts.stop()
        await self.presence.stop()


def start_kpi(services: Services) -> KpiRuntime:
    config = services.config
    metrics = services.metrics

    def gauges(values: Measurements, states: list[AlertState]) -> None:
        metrics.queue_length.set(values.queue_length)
        metrics.response_rolling.set(values.response_s or 0.0)
        for state in states:
            metrics.alert_active.labels(state.kind).set(1 if state.active else 0)

    async def record(kind: str, data: dict[str, Any]) -> None:
        await services.record(kind, "system", None, data)

    presence = PresenceSampler(
        services.engine, services.node_id, lambda: list(services.engineers), config.presence_period
    )
    alerts = Alerts(
        services.engine, record, config.alert_webhook_url, config.alert_webhook_secret, on_values=gauges
    )
    presence.start()
    alerts.start(config.alert_period)
    return KpiRuntime(presence, alerts)
