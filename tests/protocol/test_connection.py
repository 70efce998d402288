import pytest

from protocol import Connection, FileChunk, LocalProtocolError, Peer, RemoteProtocolError, State, negotiate
from protocol.actions import DiagnoseParams
from protocol.errors import ProtocolError
from protocol.messages import (
    ActionRequest,
    ActionRequestBody,
    AuthChallenge,
    AuthChallengeBody,
    Chat,
    ChatBody,
    Heartbeat,
    Hello,
    HelloBody,
    HelpRequest,
    HelpRequestBody,
    Welcome,
    WelcomeBody,
)
from tests.protocol.helpers import ConnectionPair


def test_agent_handshake_reaches_ready_through_auth() -> None:
    pair = ConnectionPair(Peer.AGENT)
    pair.client_sends(Hello(body=HelloBody(role="agent", versions=[1], software="a")))
    assert pair.server.state.value == "await_welcome"
    pair.server_sends(Welcome(body=WelcomeBody(version=1, server="s")))
    assert pair.client.state is pair.server.state is State.HANDSHAKE
    pair.server_sends(AuthChallenge(body=AuthChallengeBody(nonce="n" * 43)))
    with pytest.raises(LocalProtocolError, match="not allowed in state handshake"):
        pair.client.send(HelpRequest(body=HelpRequestBody(words="x")))


def test_engineer_is_ready_after_welcome() -> None:
    pair = ConnectionPair(Peer.ENGINEER)
    pair.handshake()
    assert pair.client.state is pair.server.state is State.READY
    assert pair.client.version == pair.server.version == 1


def test_nothing_before_hello() -> None:
    server = Connection(local=Peer.SERVER, remote=Peer.AGENT)
    agent = Connection(local=Peer.AGENT, remote=Peer.SERVER)
    agent.state = State.READY  # a misbehaving client that skips the hello
    agent.version = 1
    with pytest.raises(RemoteProtocolError, match="not allowed in state await_hello"):
        server.receive_text(agent.send(Heartbeat()))


def test_hello_role_must_match_the_endpoint() -> None:
    server = Connection(local=Peer.SERVER, remote=Peer.AGENT)
    fake = Connection(local=Peer.ENGINEER, remote=Peer.SERVER)
    frame = fake.send(Hello(body=HelloBody(role="engineer", versions=[1], software="x")))
    with pytest.raises(RemoteProtocolError, match="claims role 'engineer' on an agent connection"):
        server.receive_text(frame)


def test_agent_cannot_send_engineer_messages() -> None:
    pair = ConnectionPair(Peer.AGENT)
    pair.handshake()
    request = ActionRequest(session="s1", body=ActionRequestBody(action_id="a", action=DiagnoseParams()))
    with pytest.raises(LocalProtocolError, match="may not travel agent → server"):
        pair.client.send(request)
    # and a forged frame from a hostile agent is refused on the server side
    from protocol import encode

    with pytest.raises(RemoteProtocolError, match="may not travel agent → server"):
        pair.server.receive_text(encode(request))


def test_file_chunks_flow_only_to_the_agent() -> None:
    agent = ConnectionPair(Peer.AGENT)
    agent.handshake()
    chunk = FileChunk("a1", 0, b"data", True)
    assert bytes(agent.server_sends_chunk(chunk).payload) == b"data"
    with pytest.raises(LocalProtocolError, match="may not travel agent → server"):
        agent.client.send_chunk(chunk)
    from protocol import encode_chunk

    with pytest.raises(RemoteProtocolError, match="may not travel agent → server"):
        agent.server.receive_binary(encode_chunk(chunk))
    engineer = ConnectionPair(Peer.ENGINEER)
    engineer.handshake()
    with pytest.raises(LocalProtocolError, match="may not travel server → engineer"):
        engineer.server.send_chunk(chunk)


def test_receive_dispatches_on_frame_type() -> None:
    pair = ConnectionPair(Peer.ENGINEER)
    pair.handshake()
    frame = pair.client.send(Chat(session="s", body=ChatBody(text="hi")))
    assert isinstance(pair.server.receive(frame.decode()), Chat)
    from protocol import encode_chunk

    assert isinstance(pair.server.receive(encode_chunk(FileChunk("a", 0, b""))), FileChunk)


def test_version_must_match_after_negotiation() -> None:
    pair = ConnectionPair(Peer.ENGINEER)
    pair.handshake()
    with pytest.raises(LocalProtocolError, match="negotiated 1"):
        pair.client.send(Chat(v=2, body=ChatBody(text="x")))


def test_welcome_for_picks_highest_common_version_or_refuses() -> None:
    server = Connection(local=Peer.SERVER, remote=Peer.AGENT, supported_versions=(1, 2))
    hello = server.receive_text(
        Connection(local=Peer.AGENT, remote=Peer.SERVER).send(
            Hello(body=HelloBody(role="agent", versions=[1, 2, 3], software="x"))
        )
    )
    assert isinstance(hello, Hello)
    assert server.welcome_for(hello, server="s").body.version == 2
    assert negotiate([5, 1], (1,)) == 1
    with pytest.raises(ProtocolError, match="no common protocol version"):
        negotiate([7, 8], (1,))


def test_client_refuses_a_welcome_for_a_version_it_did_not_offer() -> None:
    client = Connection(local=Peer.AGENT, remote=Peer.SERVER, supported_versions=(1, 2))
    client.send(Hello(v=2, body=HelloBody(role="agent", versions=[2], software="x")))
    rogue = Connection(local=Peer.SERVER, remote=Peer.AGENT)
    rogue.state = State.AWAIT_WELCOME
    rogue.offered_versions = [1]
    frame = rogue.send(Welcome(v=1, body=WelcomeBody(version=1, server="s")))
    with pytest.raises(RemoteProtocolError, match="was not offered"):
        client.receive_text(frame)


def test_closed_connection_refuses_everything() -> None:
    pair = ConnectionPair(Peer.ENGINEER)
    pair.handshake()
    pair.server.close()
    with pytest.raises(RemoteProtocolError, match="closed"):
        pair.server.receive_text(pair.client.send(Heartbeat()))
    with pytest.raises(LocalProtocolError, match="closed"):
        pair.server.send(Heartbeat())


def test_a_connection_joins_the_server_and_one_client() -> None:
    with pytest.raises(ValueError, match="joins the server"):
        Connection(local=Peer.AGENT, remote=Peer.ENGINEER)
