"""`/api/account/ssh*`: the logged-in engineer's own SSH credentials for the gateway (the console's account
page): list, register and revoke OpenSSH public keys, and the language the SSH prompt speaks. Each change
is audited like the CLI's (`rme-server user add-key | revoke-key | lang`). Certificates are signed by an
administrator (`rme-server user ssh-cert`); they are listed here and can be revoked here too."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, HTTPException, Request, status
from pydantic import BaseModel, Field

from server.accounts.engineers import Engineer
from server.audit import AuditWriteError
from server.ssh import keys
from server.web.errors import unprocessable
from server.web.security import get_services, require_engineer

router = APIRouter(prefix="/api/account", tags=["account"])


class NewKey(BaseModel):
    public_key: Annotated[str, Field(min_length=1, max_length=keys.MAX_KEY_TEXT)]


class Language(BaseModel):
    lang: Literal["zh-CN", "en"]


async def _record(request: Request, engineer: Engineer, kind: str, data: dict[str, Any]) -> None:
    try:
        await get_services(request).record(kind, f"engineer:{engineer.username}", None, data)
    except AuditWriteError:
        raise HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE, "could not be recorded; not done") from None


@router.get("/ssh-keys")
async def list_ssh_keys(request: Request, engineer: Engineer = require_engineer) -> dict[str, Any]:
    services = get_services(request)
    account = await keys.login_account(services.engine, engineer.username)
    rows = await keys.list_keys(services.engine, engineer.id)
    gateway = getattr(request.app.state, "ssh", None)
    return {
        "keys": [row.as_json() for row in rows],
        "lang": account.lang if account else "zh-CN",
        "ssh_port": gateway.port if gateway is not None else None,
        "host_key": gateway.fingerprint if gateway is not None else None,
        "username": engineer.username,
    }


@router.post("/ssh-keys", status_code=status.HTTP_201_CREATED)
async def add_ssh_key(
    form: NewKey, request: Request, engineer: Engineer = require_engineer
) -> dict[str, Any]:
    try:
        key, _ = keys.parse_public_key(form.public_key)
    except keys.SshKeyError as exc:
        raise unprocessable(["body", "public_key"], str(exc)) from None
    await _record(request, engineer, "account.ssh_key_added", {"fingerprint": keys.key_fingerprint(key)})
    try:
        row = await keys.add_key(
            get_services(request).engine, engineer, form.public_key, f"engineer:{engineer.username}"
        )
    except keys.SshKeyError as exc:
        raise HTTPException(status.HTTP_409_CONFLICT, str(exc)) from None
    return row.as_json()


@router.delete("/ssh-keys/{key_id}")
async def revoke_ssh_key(
    key_id: str, request: Request, engineer: Engineer = require_engineer
) -> dict[str, Any]:
    if len(key_id) > 64:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "no such key")
    await _record(request, engineer, "account.ssh_key_revoked", {"which": key_id})
    try:
        rows = await keys.revoke_key(get_services(request).engine, engineer.id, key_id)
    except keys.SshKeyError as exc:
        raise HTTPException(status.HTTP_404_NOT_FOUND, str(exc)) from None
    return {"revoked": [row.as_json() for row in rows]}


@router.put("/lang", status_code=status.HTTP_204_NO_CONTENT)
async def set_language(form: Language, request: Request, engineer: Engineer = require_engineer) -> None:
    await _record(request, engineer, "account.lang", {"lang": form.lang})
    await keys.set_lang(get_services(request).engine, engineer.id, form.lang)
