"""A device's handshake on `/ws/agent`: `hello` → `auth.challenge`, then proof of the device's key
bound to our TLS certificate, or enrollment with a single-use code; dropped if it does not
authenticate within `auth_timeout`. What an authenticated device may do is the subclass's
(`AgentLink`).
"""

from __future__ import annotations

import asyncio
import secrets

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from starlette.websockets import WebSocket

from protocol.auth import auth_transcript, b64url, b64url_decode
from protocol.directions import Peer
from protocol.messages import (
    AuthChallenge,
    AuthChallengeBody,
    AuthOk,
    AuthOkBody,
    AuthResponse,
    EnrollOk,
    EnrollOkBody,
    EnrollRequest,
    Hello,
    Message,
)
from server.audit import AuditWriteError
from server.audit.failures import note_failure
from server.devices import store as devices
from server.relay.link import CLOSE_AUTH_FAILED, CLOSE_INTERNAL, SERVER_NAME, Link
from server.relay.services import Services


class DeviceLink(Link):
    remote = Peer.AGENT

    def __init__(self, ws: WebSocket, services: Services) -> None:
        super().__init__(ws, services)
        self.nonce: str | None = None
        self.device: devices.Device | None = None
        self._handshaking = False

    async def serve(self) -> None:
        self.services.handshaking += 1
        self._handshaking = True
        try:
            await self.ws.accept()
            auth_deadline = asyncio.get_running_loop().call_later(
                self.services.config.auth_timeout, lambda: asyncio.ensure_future(self._auth_timeout())
            )
            try:
                await self.run()
            finally:
                auth_deadline.cancel()
        finally:
            self._handshake_over()

    def _handshake_over(self) -> None:
        if self._handshaking:
            self._handshaking = False
            self.services.handshaking -= 1

    async def _auth_timeout(self) -> None:
        if self.device is None:
            await self.close(CLOSE_AUTH_FAILED, "authentication timed out")

    async def _challenge(self) -> None:
        self.nonce = b64url(secrets.token_bytes(32))
        await self.send(AuthChallenge(body=AuthChallengeBody(nonce=self.nonce)))

    async def handle(self, message: Message, text: str) -> None:
        if isinstance(message, Hello):
            await self.send(self.conn.welcome_for(message, SERVER_NAME, self._heartbeat_s()))
            await self._challenge()
        elif isinstance(message, AuthResponse):
            await self._authenticate(message)
        elif isinstance(message, EnrollRequest):
            await self._enroll(message)
        elif self.device is None:
            await self.drop("protocol", f"{message.type} before authentication", message.type)
        else:
            await self.handle_authenticated(message, text)

    def _heartbeat_s(self) -> int:
        return max(1, int(self.services.config.heartbeat_timeout // 3))

    async def _fail_auth(self, kind: str, detail: str, device_id: str | None) -> None:
        self.services.metrics.dropped.labels("agent", "auth").inc()
        # Counted, and sampled into the audit log (strangers cannot fill it).
        address = self.ws.client.host if self.ws.client else None
        await note_failure(
            self.services.audit, kind, f"device:{device_id or 'unknown'}", detail, address=address
        )
        await self.send_error("auth.failed", detail)
        await self.close(CLOSE_AUTH_FAILED, "authentication failed")

    async def _authenticate(self, message: AuthResponse) -> None:
        nonce, self.nonce = self.nonce, None  # single use, whatever happens next
        device_id = message.body.device_id
        if nonce is None:
            await self._fail_auth(
                "device.auth_failed", "no outstanding challenge (nonce already used)", device_id
            )
            return
        device = await devices.get_device(self.services.engine, device_id)
        if device is None:
            await self._fail_auth("device.auth_failed", "unknown device", device_id)
            return
        if device.revoked:
            await self._fail_auth("device.auth_failed", "device revoked", device_id)
            return
        try:
            signature = b64url_decode(message.body.signature)
            transcript = auth_transcript(nonce, self.services.channel_binding, device_id)
            Ed25519PublicKey.from_public_bytes(device.public_key).verify(signature, transcript)
        except (InvalidSignature, ValueError):
            await self._fail_auth("device.auth_failed", "signature does not verify", device_id)
            return
        try:
            await self.services.record(
                "device.connected", f"device:{device_id}", None, {"customer": device.customer_id}
            )
        except AuditWriteError:
            await self.close(CLOSE_INTERNAL, "audit unavailable")
            return
        self.device = device
        self.actor = f"device:{device_id}"
        self._handshake_over()
        await self.send(AuthOk(body=AuthOkBody(device_id=device_id, customer_id=device.customer_id)))
        await self.on_authenticated()

    async def _enroll(self, message: EnrollRequest) -> None:
        body = message.body
        try:
            public_key = b64url_decode(body.public_key)
            device = await devices.enroll_device(
                self.services.engine, body.code, public_key, body.device_name
            )
        except (ValueError, devices.DeviceError) as exc:
            code = exc.code if isinstance(exc, devices.DeviceError) else "enroll.bad_key"
            self.services.metrics.dropped.labels("agent", "enroll").inc()
            address = self.ws.client.host if self.ws.client else None
            await note_failure(
                self.services.audit, "device.enroll_failed", "device:unknown", code, address=address
            )
            await self.send_error(code, str(exc))
            await self.close(CLOSE_AUTH_FAILED, "enrollment failed")
            return
        try:
            await self.services.record(
                "device.enrolled",
                f"device:{device.id}",
                None,
                {"customer": device.customer_id, "name": body.device_name, "os": body.os},
            )
        except AuditWriteError:
            await devices.revoke_device(self.services.engine, device.id)
            await self.send_error("server.unavailable", "enrollment could not be recorded")
            await self.close(CLOSE_INTERNAL, "audit unavailable")
            return
        await self.send(EnrollOk(body=EnrollOkBody(device_id=device.id, customer_id=device.customer_id)))
        # The new key is proven at once, like on every later connection.
        await self._challenge()

    # -- for subclasses ---------------------------------------------------------------------------

    async def on_authenticated(self) -> None:
        """Called once the device has proven its key and been sent `auth.ok`."""

    async def handle_authenticated(self, message: Message, text: str) -> None:
        """Any other message, once `self.device` is set."""
        raise NotImplementedError
