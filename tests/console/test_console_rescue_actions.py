"""Rescue requests from the console, in Chromium against a real server and a protocol-level rescue agent:
the session of a rescue device offers them (a normal device's does not); the disk inventory's answer
fills the other requests' choices (only removable disks as the data-rescue target); each button sends
exactly the action the engineer chose, and each outcome shows as metadata and verdicts."""

from __future__ import annotations

from typing import Any

from playwright.sync_api import Browser, Page, expect

from protocol.actions import (
    RescueBootRepairOutcome,
    RescueCopyOutcome,
    RescueDisk,
    RescueInventoryOutcome,
    RescuePartition,
)
from protocol.messages import (
    ActionRequest,
    ActionResult,
    ActionResultBody,
    ConsentReply,
    ConsentReplyBody,
    ConsentRequest,
    ConsentRequestBody,
)
from tests.console.conftest import login, new_context
from tests.console.protocol_agent import Background, ask, background, enroll, next_of, take_offer
from tests.server.helpers import (
    ADMIN,
    ENGINEER,
    AgentIdentity,
    ProtocolClient,
    RunningServer,
    agent_enroll,
    logged_in,
    new_customer_code,
)

__all__ = ["background"]

GIB = 1 << 30
DISKS = [
    RescueDisk(
        device="/dev/vda",
        size=64 * GIB,
        model="QEMU HARDDISK",
        smart="PASSED",
        partitions=[
            RescuePartition(device="/dev/vda1", size=60 * GIB, fstype="ext4", os="Debian GNU/Linux 12"),
            RescuePartition(device="/dev/vda2", size=4 * GIB, fstype="ntfs", label="DATA"),
        ],
    ),
    RescueDisk(
        device="/dev/sda",
        size=16 * GIB,
        model="SanDisk Cruzer",
        removable=True,
        partitions=[RescuePartition(device="/dev/sda1", size=16 * GIB, fstype="vfat", label="USB")],
    ),
]


async def rescue_agent(server: RunningServer) -> tuple[ProtocolClient, str]:
    async with logged_in(server, *ADMIN) as admin:
        _, code = await new_customer_code(admin)
    agent = await agent_enroll(server, AgentIdentity(), code, device_name="[rescue] zhang-pc")
    return agent, await ask(agent, "电脑开不了机，想把照片救出来")


async def answer(agent: ProtocolClient, session: str, outcome: Any) -> Any:
    """The next request: asked, allowed on the rescue screen, and answered with `outcome`."""
    request = await next_of(agent, ActionRequest)
    action_id = request.body.action_id
    await agent.send(
        ConsentRequest(session=session, body=ConsentRequestBody(action_id=action_id, timeout_s=60))
    )
    await agent.send(
        ConsentReply(session=session, body=ConsentReplyBody(action_id=action_id, decision="allowed"))
    )
    if outcome is not None:
        body = ActionResultBody(action_id=action_id, status="ok", outcome=outcome)
        await agent.send(ActionResult(session=session, body=body))
    return request.body.action


def accept(page: Page, server: RunningServer, ticket: str) -> None:
    page.goto(f"{server.base}/console/#/ticket/{ticket}")
    page.click("button.accept")


def test_rescue_requests_follow_the_inventory(
    own_server: RunningServer, browser: Browser, background: Background
) -> None:
    server = own_server
    agent, ticket = background.run(rescue_agent(server))
    context = new_context(browser, lang="en")
    page = context.new_page()
    login(page, server, ENGINEER)
    accept(page, server, ticket)
    session = background.run(take_offer(agent))
    panel = page.locator("#rescue-requests")
    expect(panel).to_be_visible()
    expect(page.locator("#rescue-hint")).to_be_visible()

    page.click("#req-rescue-inventory")
    sent = background.run(answer(agent, session, RescueInventoryOutcome(disks=DISKS)))
    assert sent.kind == "rescue_inventory"
    table = page.locator("table.rescue-disks")
    expect(table.locator("tr.disk")).to_have_count(2)
    expect(table).to_contain_text("Debian GNU/Linux 12")
    expect(table).to_contain_text("SanDisk Cruzer")
    expect(page.locator("#rescue-hint")).to_be_hidden()
    # Only a removable disk may receive rescued files; the boot repair offers the partition with a system.
    targets = page.locator("#rescue-copy-target option").evaluate_all("os => os.map(o => o.value)")
    assert targets == ["", "/dev/sda1"]
    roots = page.locator("#rescue-boot-root option").evaluate_all("os => os.map(o => o.value)")
    assert roots == ["", "/dev/vda1"]

    page.select_option("#rescue-copy-source", "/dev/vda2")
    page.fill("#rescue-copy-folders", "Photos, 文档/2026")
    page.select_option("#rescue-copy-target", "/dev/sda1")
    page.click("#req-rescue-copy")
    copied = RescueCopyOutcome(files=12, bytes=34 << 20, verified=12, failed=0, folder="RME-Rescue-20261201")
    sent = background.run(answer(agent, session, copied))
    assert (sent.kind, sent.source, sent.folders, sent.target) == (
        "rescue_copy", "/dev/vda2", ["Photos", "文档/2026"], "/dev/sda1",
    )  # fmt: skip
    expect(page.locator(".rescue-copied")).to_contain_text("Rescued 12 files")
    expect(page.locator(".rescue-copied")).to_contain_text("RME-Rescue-20261201")

    page.select_option("#rescue-boot-disk", "/dev/vda")
    page.click("#req-rescue-boot")
    repaired = RescueBootRepairOutcome(
        disk="/dev/vda", root="/dev/vda1", system="Debian GNU/Linux 12", bios=True, efi=False, menu=True,
        commands=["grub-install --target=i386-pc /dev/vda", "update-grub"],
    )  # fmt: skip
    sent = background.run(answer(agent, session, repaired))
    assert (sent.kind, sent.disk, sent.root) == ("rescue_boot_repair", "/dev/vda", None)
    expect(page.locator(".rescue-boot")).to_contain_text(
        "Start-up of Debian GNU/Linux 12 (/dev/vda1) repaired"
    )

    page.select_option("#rescue-fsck-device", "/dev/vda1")
    page.check("#rescue-fsck-repair")
    page.click("#req-rescue-fsck")
    sent = background.run(answer(agent, session, None))
    assert (sent.kind, sent.device, sent.repair) == ("rescue_fsck", "/dev/vda1", True)

    # Nothing pushed yet: there is no image to write, so the button sends nothing.
    images = page.locator("#rescue-image-file option").evaluate_all("os => os.map(o => o.value)")
    assert images == [""]
    background.run(agent.close())
    context.close()


def test_a_normal_device_has_no_rescue_requests(
    own_server: RunningServer, browser: Browser, background: Background
) -> None:
    agent = background.run(enroll(own_server))
    ticket = background.run(ask(agent, "上不了网"))
    context = new_context(browser)
    page = context.new_page()
    login(page, own_server, ENGINEER)
    accept(page, own_server, ticket)
    background.run(take_offer(agent))
    expect(page.locator("#req-diagnose")).to_be_visible()
    expect(page.locator("#rescue-requests")).to_have_count(0)
    background.run(agent.close())
    context.close()
