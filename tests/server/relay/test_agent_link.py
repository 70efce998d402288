"""`/ws/agent` under attack: enrollment and key proof, replays, forgeries, malformed and oversized
frames, wrong directions and states, floods — over real TLS WebSockets to a real server process."""

from __future__ import annotations

import asyncio
import contextlib
import json

import pytest
from websockets.exceptions import ConnectionClosed

from protocol.limits import MAX_TEXT_FRAME
from protocol.messages import (
    AuthChallenge,
    AuthOk,
    EnrollRequest,
    EnrollRequestBody,
    Error,
    Heartbeat,
    HelpRefused,
    HelpRequest,
    HelpRequestBody,
    SessionAccept,
)
from tests.server.helpers import (
    ADMIN,
    AgentIdentity,
    RunningServer,
    agent_connect,
    agent_enroll,
    audit_kinds,
    closed_with,
    logged_in,
    new_customer_code,
    open_agent,
    sign,
)


async def enrolled(server: RunningServer, subscription: str = "active") -> AgentIdentity:
    async with logged_in(server, *ADMIN) as admin:
        _, code = await new_customer_code(admin, subscription)
    identity = AgentIdentity()
    agent = await agent_enroll(server, identity, code)
    await agent.close()
    return identity


async def test_enrollment_code_cannot_be_replayed(rme_server: RunningServer) -> None:
    async with logged_in(rme_server, *ADMIN) as admin:
        _, code = await new_customer_code(admin)
    first = await agent_enroll(rme_server, AgentIdentity(), code)
    await first.close()
    second = await open_agent(rme_server)
    await second.expect(AuthChallenge)
    other = AgentIdentity()
    body = EnrollRequestBody(code=code, public_key=other.public_key, device_name="Thief", os="Linux")
    await second.send(EnrollRequest(body=body))
    error = await second.expect(Error)
    assert error.body.code == "enroll.code_used"
    assert await closed_with(second) == 4401
    assert ("device.enroll_failed", "device:unknown", None) in await audit_kinds(rme_server, "device:")


async def test_reconnect_proves_the_key_every_time(rme_server: RunningServer) -> None:
    identity = await enrolled(rme_server)
    agent = await agent_connect(rme_server, identity)
    await agent.send(Heartbeat())
    assert isinstance(await agent.expect(Heartbeat), Heartbeat)
    await agent.close()


@pytest.mark.parametrize("forgery", ["wrong_key", "wrong_channel", "unknown_device", "replayed"])
async def test_forged_or_replayed_proofs_are_refused(rme_server: RunningServer, forgery: str) -> None:
    identity = await enrolled(rme_server)
    agent = await open_agent(rme_server)
    challenge = await agent.expect(AuthChallenge)
    if forgery == "wrong_key":
        impostor = AgentIdentity(device_id=identity.device_id)
        response = sign(agent, impostor, challenge.body.nonce)
    elif forgery == "wrong_channel":  # what a man in the middle with his own certificate would get signed
        response = sign(agent, identity, challenge.body.nonce, binding=b"\x00" * 32)
    elif forgery == "unknown_device":
        response = sign(agent, AgentIdentity(device_id="d_0000000000000000dead"), challenge.body.nonce)
    else:  # a valid proof captured on one connection, replayed on another
        response = sign(agent, identity, challenge.body.nonce)
        await agent.send(response)
        await agent.expect(AuthOk)
        await agent.close()
        agent = await open_agent(rme_server)
        await agent.expect(AuthChallenge)
    await agent.send(response)
    error = await agent.expect(Error)
    assert error.body.code == "auth.failed"
    assert await closed_with(agent) == 4401


async def test_a_nonce_is_single_use_on_one_connection(rme_server: RunningServer) -> None:
    identity = await enrolled(rme_server)
    agent = await open_agent(rme_server)
    challenge = await agent.expect(AuthChallenge)
    wrong = sign(agent, AgentIdentity(device_id=identity.device_id), challenge.body.nonce)
    right = sign(agent, identity, challenge.body.nonce)
    await agent.send_raw(agent.conn.send(wrong).decode())
    await agent.send_raw(agent.conn.send(right).decode())  # the nonce was spent by the failed try
    assert (await agent.expect(Error)).body.code == "auth.failed"
    assert await closed_with(agent) == 4401


async def test_revoked_device_is_cut_off_and_refused(rme_server: RunningServer) -> None:
    identity = await enrolled(rme_server)
    agent = await agent_connect(rme_server, identity)
    async with logged_in(rme_server, *ADMIN) as admin:
        assert (await admin.post(f"/api/devices/{identity.device_id}/revoke")).status_code == 204
    assert await closed_with(agent) == 4403
    again = await open_agent(rme_server)
    challenge = await again.expect(AuthChallenge)
    await again.send(sign(again, identity, challenge.body.nonce))
    assert (await again.expect(Error)).body.code == "auth.failed"


async def test_suspended_customer_is_refused_with_a_reason_in_both_languages(
    rme_server: RunningServer,
) -> None:
    identity = await enrolled(rme_server, subscription="suspended")
    agent = await agent_connect(rme_server, identity)
    await agent.send(HelpRequest(body=HelpRequestBody(words="help", lang="zh-CN")))
    refused = await agent.expect(HelpRefused)
    assert refused.body.reason == "subscription.suspended"
    assert "暂停" in refused.body.message.zh_CN and "suspended" in refused.body.message.en
    await agent.close()


async def test_bad_frames_are_dropped_audited_and_counted(rme_server: RunningServer) -> None:
    identity = await enrolled(rme_server)
    agent = await open_agent(rme_server)
    challenge = await agent.expect(AuthChallenge)
    # Before authentication: a help request is out of state.
    hello_again = json.dumps({"v": 1, "type": "help.request", "id": "x1", "ts": 1, "body": {"words": "hi"}})
    await agent.send_raw(hello_again)
    assert (await agent.expect(Error)).body.code == "frame.dropped"
    await agent.send(sign(agent, identity, challenge.body.nonce))
    await agent.expect(AuthOk)
    bad_frames: list[str | bytes] = [
        "not json",
        '{"v": 1, "type": "heartbeat", "type": "chat", "id": "a", "ts": 1, "body": {}}',  # duplicate key
        json.dumps({"v": 1, "type": "teleport", "id": "a", "ts": 1, "body": {}}),  # unknown type
        json.dumps(
            {"v": 1, "type": "ticket.accept", "id": "a", "ts": 1, "body": {"ticket_id": "t_1"}}
        ),  # E→S only
        json.dumps({"v": 1, "type": "queue.update", "id": "a", "ts": 1, "body": {}}),  # S→E only
        json.dumps(  # an agent trying to act as an engineer
            {
                "v": 1,
                "type": "action.request",
                "id": "a",
                "ts": 1,
                "session": "s_1",
                "body": {"action_id": "x", "action": {"kind": "command", "command": "dir"}},
            }
        ),
        b"RMEC\x01\x01\x01x" + bytes(8) + b"file bytes from the user",  # a file chunk agent→server
        "x" * (MAX_TEXT_FRAME + 10),  # oversized, but under the socket's hard limit
    ]
    for frame in bad_frames:
        await agent.send_raw(frame)
        error = await agent.expect(Error)
        assert error.body.code == "frame.dropped", frame[:80]
    # State: a session.accept with no offer is dropped too.
    await agent.send(SessionAccept(session="s_0000000000000000beef"))
    assert (await agent.expect(Error)).body.code == "frame.dropped"
    # Still connected and working.
    await agent.send(Heartbeat())
    await agent.expect(Heartbeat)
    drops = [
        k
        for k in await audit_kinds(rme_server, f"device:{identity.device_id}")
        if k[0] == "relay.frame_dropped"
    ]
    assert len(drops) >= len(bad_frames) + 1
    async with logged_in(rme_server, *ADMIN) as admin:
        metrics = (await admin.get("/metrics")).text
    assert 'rme_relay_dropped_frames_total{peer="agent",reason="protocol"}' in metrics
    # Far beyond the limit: the socket layer cuts the connection (1009, message too big).
    await agent.send_raw("y" * (4 * MAX_TEXT_FRAME))
    assert await closed_with(agent) in (1009, 1006)  # "message too big", or cut without a close frame


async def test_floods_are_rate_limited_then_cut_off(rme_server: RunningServer) -> None:
    identity = await enrolled(rme_server)
    agent = await agent_connect(rme_server, identity)
    frame = agent.conn.send(Heartbeat()).decode()
    codes: list[str] = []
    # The bucket refills while the server works through the flood, so a loaded server needs more than
    # the burst to run dry; it cuts the connection long before the last is sent, and the errors it sent
    # before closing are still read below.
    with contextlib.suppress(ConnectionClosed):
        for _ in range(3000):
            await agent.send_raw(frame)
    try:
        async with asyncio.timeout(30):
            while True:
                item = await agent.recv()
                if isinstance(item, Error):
                    codes.append(item.body.code)
    except (ConnectionClosed, TimeoutError):
        pass
    assert "frame.rate_limited" in codes
    assert agent.ws.close_code == 1008  # too many refused frames
