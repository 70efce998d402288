"""Rescue images from the console: "send a rescue image to this customer".

`GET /api/console/rescue-image` says whether a base image is configured (`rescue_base_iso`,
`RME_RESCUE_BASE_ISO`). `POST /api/console/customers/{id}/rescue-image` issues one — a fresh single-use
enrollment code sealed into the base image's slot with the server's rescue key, exactly what
`rme-server rescue issue` writes — and streams it as a download: the base image's bytes with the slot
replaced on the fly, no copy on disk. Audited as `engineer.rescue_image_issued` before anything is made.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from urllib.parse import urlsplit

from fastapi import APIRouter, HTTPException, Request, status
from fastapi.responses import StreamingResponse
from pydantic import BaseModel

from rescue import keys
from rescue.provision import Provision, ProvisionError, find_slot, issued_chunks, seal
from server.accounts.engineers import Engineer
from server.audit import AuditWriteError
from server.config import ServerConfig
from server.devices import store as devices
from server.web.security import get_services, require_engineer

router = APIRouter(tags=["rescue"])

NOT_CONFIGURED = "no base rescue image is configured: set rescue_base_iso (RME_RESCUE_BASE_ISO)"
_offsets: dict[tuple[str, int, int], int] = {}  # (path, size, mtime) -> slot offset


class RescueImageInfo(BaseModel):
    configured: bool
    size: int | None
    code_ttl_s: int


def _base(request: Request) -> Path | None:
    base = get_services(request).config.rescue_base_iso
    return base if base is not None and base.is_file() else None


@router.get("/api/console/rescue-image")
async def rescue_image_info(request: Request, _: Engineer = require_engineer) -> RescueImageInfo:
    base = _base(request)
    return RescueImageInfo(
        configured=base is not None,
        size=base.stat().st_size if base else None,
        code_ttl_s=get_services(request).config.enrollment_code_ttl,
    )


def _slot_offset(base: Path) -> int:
    stat = base.stat()
    key = (str(base), stat.st_size, stat.st_mtime_ns)
    if key not in _offsets:
        _offsets[key] = find_slot(base)
    return _offsets[key]


NO_SERVER_URL = (
    "no address for customers to reach this server is configured: set rescue_server_url "
    "(RME_RESCUE_SERVER_URL), e.g. wss://rme.example.net:8443"
)
WILDCARD_HOSTS = frozenset({"", "0.0.0.0", "::", "[::]"})  # noqa: S104 (names, not a bind)


def server_url(config: ServerConfig) -> str | None:
    """The address sealed into an issued image, from configuration only — never from the request (its
    Host header is the client's to choose, and an attacker's Host must not end up in a customer's image).

    `rescue_server_url`; else the console's first configured `allowed_origins` https origin (the
    operator's public address for the console, which serves the agents too), as wss://; else the
    configured listening `host:port` when it names one address (not a wildcard); else None."""
    if config.rescue_server_url:
        return config.rescue_server_url
    for origin in config.allowed_origins:
        parts = urlsplit(origin)
        if parts.scheme == "https" and parts.hostname:
            return f"wss://{parts.netloc}"
    if config.host.strip() not in WILDCARD_HOSTS:
        host = f"[{config.host}]" if ":" in config.host else config.host
        return f"wss://{host}:{config.port}"
    return None


@router.post(
    "/api/console/customers/{customer_id}/rescue-image",
    response_class=StreamingResponse,
    responses={
        200: {"content": {"application/x-iso9660-image": {}}, "description": "the customer's rescue ISO"},
        404: {"description": "no such customer"},
        409: {"description": "no usable base rescue image, or no server address, configured"},
    },
)
async def issue_rescue_image(
    customer_id: str, request: Request, engineer: Engineer = require_engineer
) -> StreamingResponse:
    services = get_services(request)
    config = services.config
    base = _base(request)
    if base is None:
        raise HTTPException(status.HTTP_409_CONFLICT, NOT_CONFIGURED)
    address = server_url(config)
    if address is None:
        raise HTTPException(status.HTTP_409_CONFLICT, NO_SERVER_URL)
    try:
        customer = await devices.get_customer(services.engine, customer_id)
    except devices.DeviceError as exc:
        raise HTTPException(status.HTTP_404_NOT_FOUND, str(exc)) from None
    try:
        offset = await asyncio.to_thread(_slot_offset, base)
    except (ProvisionError, OSError) as exc:
        raise HTTPException(status.HTTP_409_CONFLICT, f"the base rescue image is not usable: {exc}") from None
    ca_path = config.data_dir / "tls" / "ca.pem"
    if not ca_path.is_file():
        raise HTTPException(status.HTTP_409_CONFLICT, f"no CA certificate to pin at {ca_path}")
    ttl = config.enrollment_code_ttl
    actor = f"engineer:{engineer.username}"
    try:
        await services.record(
            "engineer.rescue_image_issued",
            actor,
            None,
            {"customer": customer.id, "ttl_s": ttl, "base": base.name},
        )
    except AuditWriteError:
        raise HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE, "could not be recorded; not done") from None
    code = await devices.create_enrollment_code(services.engine, customer.id, actor, ttl)
    now = int(time.time())
    provision = Provision(address, ca_path.read_text(), customer.id, code, now + ttl, now)
    blob = seal(provision, keys.load_or_create(config.data_dir))
    name = f"rme-rescue-{customer.id}.iso"
    return StreamingResponse(
        issued_chunks(base, offset, blob),
        media_type="application/x-iso9660-image",
        headers={
            "Content-Disposition": f'attachment; filename="{name}"',
            "Content-Length": str(base.stat().st_size),
            "Cache-Control": "no-store",
        },
    )
