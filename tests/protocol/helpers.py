"""In-memory pairs of sans-I/O connections (after h11's ConnectionPair): no network needed."""

from __future__ import annotations

from protocol import Connection, Envelope, FileChunk, Message, Peer
from protocol.messages import AuthOk, AuthOkBody, Hello, HelloBody


class ConnectionPair:
    """A client (agent or engineer) connection and the server's end of it, linked in memory."""

    def __init__(self, client: Peer) -> None:
        self.client = Connection(local=client, remote=Peer.SERVER)
        self.server = Connection(local=Peer.SERVER, remote=client)
        self.role = client

    def client_sends(self, message: Envelope) -> Message:
        return self.server.receive_text(self.client.send(message))

    def server_sends(self, message: Envelope) -> Message:
        return self.client.receive_text(self.server.send(message))

    def server_sends_chunk(self, chunk: FileChunk) -> FileChunk:
        item = self.client.receive_binary(self.server.send_chunk(chunk))
        assert isinstance(item, FileChunk)
        return item

    def handshake(self) -> None:
        """hello → welcome (→ auth.ok for an agent): both ends READY."""
        hello = self.client_sends(
            Hello(body=HelloBody(role=self.role.value, versions=[1], software="test"))  # type: ignore[arg-type]
        )
        assert isinstance(hello, Hello)
        self.server_sends(self.server.welcome_for(hello, server="test"))
        if self.role is Peer.AGENT:
            self.server_sends(AuthOk(body=AuthOkBody(device_id="d1", customer_id="c1")))
