"""`bench._netpath`: the three-namespace topology comes up, carries both paths, and is gone after."""

from __future__ import annotations

import statistics
from pathlib import Path

import pytest

from bench._netpath import HOME_IP, NetPath, available, measure_on
from tests.lab.managed import require

pytestmark = pytest.mark.netns


@pytest.fixture(autouse=True)
def _need_netns() -> None:
    require(available())


def test_topology_routes_through_dc_and_is_removed() -> None:
    with NetPath() as net:
        assert net.exists() == [net.office, net.dc, net.home]
        ping = net.sh(net.office, "ping", "-c", "1", "-W", "2", HOME_IP, check=False)
        assert ping.returncode == 0, ping.stdout + ping.stderr
        route = net.sh(net.office, "ip", "route", "get", HOME_IP).stdout
        assert "via 10.66.1.1" in route
    assert net.exists() == []


def test_namespaces_are_removed_on_error() -> None:
    with pytest.raises(RuntimeError, match="boom"), NetPath() as net:
        net.spawn(net.home, ["sleep", "60"])
        raise RuntimeError("boom")
    assert net.exists() == []


def test_direct_and_relay_paths_work_with_and_without_delay(tmp_path: Path) -> None:
    with NetPath() as net:
        runs = measure_on(net, tmp_path, [(0.0, 20), (1.0, 10)], warmup=5)
    assert net.exists() == []
    assert [run.delay_ms for run in runs] == [0.0, 1.0]
    for run in runs:
        assert len(run.direct) == len(run.relay) == (20 if run.delay_ms == 0 else 10)
        assert run.frame_bytes > 100
        assert all(t > 0 for t in run.direct + run.relay)
    delayed = runs[1]
    # Four link crossings of 1 ms each, on both paths: the delay really is on the links.
    assert statistics.median(delayed.direct) >= 0.004
    assert statistics.median(delayed.relay) >= 0.004
    assert delayed.ping_ms is not None and delayed.ping_ms >= 4.0
