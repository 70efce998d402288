"""Rescue images from the console, in Chromium against a real server: a rescue device (enrolled as
the rescue system does) is marked in the ticket view; the engineer's "send a rescue image to this
customer" downloads the configured base image with a signed, working single-use code in its slot
(audited); with no base image configured the console and the API say so clearly."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, expect

from rescue import keys
from rescue.provision import SECTOR, SLOT_SIZE, empty_slot, find_slot, open_slot
from tests.console.conftest import login, new_context
from tests.console.protocol_agent import Background, ask, background, take_offer
from tests.server.helpers import (
    ADMIN,
    ENGINEER,
    AgentIdentity,
    ProtocolClient,
    RunningServer,
    agent_enroll,
    audit_kinds,
    logged_in,
    new_customer_code,
    running_server,
)

__all__ = ["background"]
SLOT_SECTOR = 21


def fake_iso(path: Path) -> bytes:
    """A tiny stand-in for the base ISO: sectors of bytes with the empty slot on a sector boundary."""
    data = bytearray(bytes(range(256)) * (SECTOR * 40 // 256))
    start = SLOT_SECTOR * SECTOR
    data[start : start + SLOT_SIZE] = empty_slot()
    path.write_bytes(bytes(data))
    return bytes(data)


@pytest.fixture(scope="module")
def rescue_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[RunningServer, Path]]:
    base = tmp_path_factory.mktemp("rescue-base") / "rme-rescue.iso"
    fake_iso(base)
    db = tmp_path_factory.mktemp("rescue-db") / "rme.db"
    data = tmp_path_factory.mktemp("rescue-server")
    with running_server(data, f"sqlite+aiosqlite:///{db}", rescue_base_iso=str(base)) as server:
        yield server, base


async def rescue_device(server: RunningServer) -> tuple[str, str, ProtocolClient]:
    """A customer whose PC booted the rescue system: enrolled as "[rescue] …", asking for help."""
    async with logged_in(server, *ADMIN) as admin:
        customer, code = await new_customer_code(admin)
    agent = await agent_enroll(server, AgentIdentity(), code, device_name="[rescue] debian")
    ticket = await ask(agent, "电脑开不了机")
    return customer, ticket, agent


async def enroll_with(server: RunningServer, code: str) -> str | None:
    return await enroll_named(server, code, "[rescue] zhang-pc")


async def enroll_named(server: RunningServer, code: str, name: str) -> str | None:
    identity = AgentIdentity()
    agent = await agent_enroll(server, identity, code, device_name=name)
    await agent.close()
    return identity.customer_id


async def new_customer_code_for(server: RunningServer) -> tuple[str, str]:
    async with logged_in(server, *ADMIN) as admin:
        return await new_customer_code(admin)


def test_send_a_rescue_image(
    browser: Browser, rescue_server: tuple[RunningServer, Path], background: Background, tmp_path: Path
) -> None:
    server, base = rescue_server
    context = new_context(browser)
    page = context.new_page()
    login(page, server, ENGINEER)
    expect(page.locator("#queue-rows")).to_be_attached()
    customer, ticket, agent = background.run(rescue_device(server))
    # The queue marks a help request from the rescue system: pushed live, and read back after a reload.
    row = page.locator(f"#queue-rows tr[data-ticket='{ticket}']")
    expect(row.locator(".badge.rescue")).to_have_text("救援系统")
    page.reload()
    expect(row.locator(".badge.rescue")).to_have_text("救援系统")
    page.goto(f"{server.base}/console/#/ticket/{ticket}")
    expect(page.locator("#ticket-device .badge.rescue")).to_have_text("救援系统")
    button = page.locator("button.send-rescue")
    expect(button).to_have_text("给该客户发送救援盘")
    page.click("button.accept")  # the session view marks the rescue device too
    background.run(take_offer(agent))
    expect(page.locator(".view.session .badge.rescue")).to_have_text("救援系统")
    background.run(agent.close())
    page.goto(f"{server.base}/console/#/ticket/{ticket}")

    with page.expect_download() as download_info:
        button.click()
    download = download_info.value
    assert download.suggested_filename == f"rme-rescue-{customer}.iso"
    got = tmp_path / "issued.iso"
    download.save_as(got)

    issued, original = got.read_bytes(), base.read_bytes()
    offset = find_slot(got)
    assert offset == SLOT_SECTOR * SECTOR and len(issued) == len(original)
    assert (
        issued[:offset] == original[:offset]
        and issued[offset + SLOT_SIZE :] == original[offset + SLOT_SIZE :]
    )
    key = keys.load_or_create(server.data_dir).public_key()
    provision = open_slot(issued[offset : offset + SLOT_SIZE], key)
    assert provision.customer == customer
    assert provision.server == f"wss://127.0.0.1:{server.port}"
    assert provision.ca_pem == server.ca.read_text()
    assert not provision.expired()
    kinds = background.run(audit_kinds(server, "engineer:"))
    assert ("engineer.rescue_image_issued", f"engineer:{ENGINEER[0]}", None) in kinds
    assert background.run(enroll_with(server, provision.code)) == customer  # the code really enrolls

    with server.sync_http() as http:
        assert http.post(
            "/api/auth/login", json={"username": ENGINEER[0], "password": ENGINEER[1]}
        ).is_success
        assert http.post("/api/console/customers/no-such/rescue-image").status_code == 404
    with server.sync_http() as admin:
        assert admin.post("/api/auth/login", json={"username": ADMIN[0], "password": ADMIN[1]}).is_success
        listed = {d["name"]: d["rescue"] for d in admin.get(f"/api/customers/{customer}/devices").json()}
        assert listed == {"[rescue] debian": True, "[rescue] zhang-pc": True}
        other_customer, other = background.run(new_customer_code_for(server))
        assert background.run(enroll_named(server, other, "Zhang-PC")) == other_customer
        plain = admin.get(f"/api/customers/{other_customer}/devices").json()
        assert [(d["name"], d["rescue"]) for d in plain] == [("Zhang-PC", False)]

    with server.sync_http() as http:
        assert http.post(
            "/api/auth/login", json={"username": ENGINEER[0], "password": ENGINEER[1]}
        ).is_success

        base.rename(base.with_suffix(".gone"))  # no base image any more: said clearly, nothing issued
        try:
            assert http.get("/api/console/rescue-image").json()["configured"] is False
            refused = http.post(f"/api/console/customers/{customer}/rescue-image")
            assert refused.status_code == 409 and "rescue_base_iso" in refused.text
            page.reload()
            expect(page.locator(".rescue-image")).to_contain_text("服务器未配置救援盘基础镜像")
            expect(page.locator("button.send-rescue")).to_have_count(0)
        finally:
            base.with_suffix(".gone").rename(base)
    context.close()
