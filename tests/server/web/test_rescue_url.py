"""The server address sealed into an issued rescue image comes from configuration only: a forged Host
header never ends up in a customer's image, and without a configured address the API answers 409
naming `rescue_server_url`."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from rescue import keys
from rescue.provision import SLOT_SIZE, find_slot, open_slot
from server.config import ServerConfig
from server.web.rescue_routes import NO_SERVER_URL, server_url
from tests.console.test_console_rescue import fake_iso
from tests.server.helpers import (
    ADMIN,
    ENGINEER,
    RunningServer,
    bootstrap_accounts,
    free_port,
    start_server_on,
)


@pytest.mark.parametrize(
    ("settings", "expected"),
    [
        ({"rescue_server_url": "wss://rme.example.net:8443", "allowed_origins": ("https://c.example",)},
         "wss://rme.example.net:8443"),
        ({"allowed_origins": ("http://plain.example", "https://console.example.net:9443")},
         "wss://console.example.net:9443"),
        ({"host": "203.0.113.5", "port": 8443}, "wss://203.0.113.5:8443"),
        ({"host": "2001:db8::5", "port": 443}, "wss://[2001:db8::5]:443"),
        ({"host": "0.0.0.0"}, None),
        ({"host": "::"}, None),
    ],
)  # fmt: skip
def test_the_address_comes_from_configuration(settings: dict[str, object], expected: str | None) -> None:
    assert server_url(ServerConfig(**settings)) == expected  # type: ignore[arg-type]
    assert "rescue_server_url" in NO_SERVER_URL


@pytest.fixture(scope="module")
def base_iso(tmp_path_factory: pytest.TempPathFactory) -> Path:
    base = tmp_path_factory.mktemp("base") / "rme-rescue.iso"
    fake_iso(base)
    return base


@pytest.fixture(scope="module")
def servers(
    tmp_path_factory: pytest.TempPathFactory, base_iso: Path
) -> Iterator[tuple[RunningServer, RunningServer]]:
    """One server with nothing but its listening address configured, one with a public console origin."""
    plain_port, public_port = free_port(), free_port()
    started: list[RunningServer] = []
    try:
        for port, extra in (
            (plain_port, {}),
            (
                public_port,
                {"allowed_origins": f"https://rme.example.net:8443,https://127.0.0.1:{public_port}"},
            ),
        ):
            data = tmp_path_factory.mktemp("server")
            db = f"sqlite+aiosqlite:///{data / 'rme.db'}"
            server = start_server_on(port, data, db, rescue_base_iso=str(base_iso), **extra)
            started.append(server)
            bootstrap_accounts(server)
        yield started[0], started[1]
    finally:
        for server in started:
            server.stop()


def issued_server(server: RunningServer, host: str, tmp_path: Path) -> str:
    """Issue an image with a forged Host header; the address its slot carries."""
    with server.sync_http() as http:
        assert http.post("/api/auth/login", json={"username": ADMIN[0], "password": ADMIN[1]}).is_success
        made = http.post("/api/customers", json={"name": "Zhang San", "subscription": "active"})
        assert made.status_code == 201, made.text
        assert http.post(
            "/api/auth/login", json={"username": ENGINEER[0], "password": ENGINEER[1]}
        ).is_success
        reply = http.post(f"/api/console/customers/{made.json()['id']}/rescue-image", headers={"Host": host})
        assert reply.status_code == 200, reply.text
    image = tmp_path / f"issued-{server.port}.iso"
    image.write_bytes(reply.content)
    offset = find_slot(image)
    blob = reply.content[offset : offset + SLOT_SIZE]
    return open_slot(blob, keys.load_or_create(server.data_dir).public_key()).server


def test_a_forged_host_never_reaches_the_image(
    servers: tuple[RunningServer, RunningServer], tmp_path: Path
) -> None:
    plain, public = servers
    assert issued_server(plain, "evil.example:443", tmp_path) == f"wss://127.0.0.1:{plain.port}"
    assert issued_server(public, "evil.example", tmp_path) == "wss://rme.example.net:8443"
