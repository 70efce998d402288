"""The SSH gateway: asyncssh inside `rme-server serve` (`--ssh-port`), a thin wrapper around the prompt's
core (`server.ssh.prompt`), the shell (`server.ssh.shell`), the desk (`server.ssh.desk`) and the
put-only SFTP server (`server.ssh.sftp`).

Login. Public keys only: a key registered to the account, or a certificate signed by the server's user
CA for that username and still valid (asyncssh checks signature, principal and validity; we check the
serial was issued and not revoked). Accounts with TOTP then answer a keyboard-interactive TOTP prompt
(asyncssh's server has no "partial success", so the key is checked first and only then is
keyboard-interactive offered). Disabled or locked accounts are refused. Each login is audited
(`ssh.login`, via ssh, key fingerprint, certificate serial, address).

Refused: passwords, shells on the PC (there are none), subsystems other than sftp, reading/listing
through sftp, port forwarding both ways, agent and X11 forwarding — each with a message.

One desk (engineer link) per engineer on this node, shared by that engineer's SSH connections (an
interactive prompt and the `scp` beside it hold the same sessions), closed a moment after the last one
leaves so consecutive script commands keep their session.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import asyncssh
from asyncssh.public_key import SSHOpenSSHCertificate, decode_ssh_certificate, decode_ssh_public_key

from server.accounts.engineers import could_be_username
from server.accounts.throttle import LoginThrottle
from server.audit import AuditWriteError
from server.relay.limits import TokenBucket
from server.relay.services import Services
from server.ssh import keys
from server.ssh.desk import Desk, DeskError, Event
from server.ssh.hostkeys import fingerprint, host_key, ssh_dir, user_ca
from server.ssh.login import Login
from server.ssh.prompt import MAX_LINE, CommandError, parse, say
from server.ssh.sftp import PutOnlySFTP
from server.ssh.shell import FAILED, USAGE, Shell, describe_event

log = logging.getLogger("rme.ssh")

LOGIN_TIMEOUT = 30.0
DESK_LINGER = 5.0  # seconds a desk outlives its last SSH connection (consecutive script commands)
LINES_PER_SECOND = 20.0
LINE_BURST = 40
READ_SIZE = 64 * 1024


@dataclass
class _DeskRef:
    desk: Desk
    users: int = 0
    linger: asyncio.Task[None] | None = None


class Gateway:
    def __init__(self, services: Services, host: str, port: int, data_dir: Path) -> None:
        self.services = services
        self.host = host
        self.port = port
        self.host_key = host_key(data_dir)
        self.ca = user_ca(data_dir)
        self.ca_public = self.ca.convert_to_public()
        self.spool_dir = ssh_dir(data_dir) / "spool"
        self.logins: dict[object, Login] = {}
        self.desks: dict[str, _DeskRef] = {}
        self.desk_lock = asyncio.Lock()
        self.server: asyncssh.SSHAcceptor | None = None
        config = services.config
        # TOTP codes are guessable (10^6, three valid at a time): wrong ones back off as console logins do.
        self.throttle = LoginThrottle(
            burst=config.login_address_burst,
            per_minute=config.login_address_per_minute,
            free_failures=config.login_max_failures,
            max_backoff=config.login_lockout,
            exempt=config.throttle_exempt,
        )

    @property
    def fingerprint(self) -> str:
        return fingerprint(self.host_key)

    async def start(self) -> None:
        # Files a previous run was receiving when it stopped: never pushed, never to be.
        for stale in self.spool_dir.glob("push-*"):
            stale.unlink(missing_ok=True)
        self.server = await asyncssh.create_server(
            lambda: _Connection(self),
            self.host,
            self.port,
            server_host_keys=[self.host_key],
            process_factory=self._process,
            sftp_factory=lambda chan: PutOnlySFTP(chan, self.logins.get),
            allow_scp=True,
            agent_forwarding=False,
            x11_forwarding=False,
            encoding="utf-8",
            errors="replace",
            line_editor=True,
            max_line_length=MAX_LINE,
            login_timeout=LOGIN_TIMEOUT,
            keepalive_interval=30,
            server_version="RME",
        )
        sockets = self.server.sockets
        if self.port == 0 and sockets:
            self.port = int(sockets[0].getsockname()[1])
        log.info("ssh gateway listening", extra={"port": self.port, "host_key": self.fingerprint})

    async def stop(self) -> None:
        if self.server is not None:
            self.server.close()
            with contextlib.suppress(Exception):
                await self.server.wait_closed()
        for ref in list(self.desks.values()):
            if ref.linger is not None:
                ref.linger.cancel()
            await ref.desk.close()
        self.desks.clear()

    # -- desks ------------------------------------------------------------------------------------------

    async def take_desk(self, login: Login) -> Desk:
        engineer = login.account.engineer
        async with self.desk_lock:
            ref = self.desks.get(engineer.id)
            if ref is not None and ref.desk.closed:
                self.desks.pop(engineer.id, None)
                ref = None
            if ref is None:
                desk = Desk(self.services, engineer)
                desk.on_lost = lambda: self._cut(engineer.id)
                await desk.open()
                ref = self.desks[engineer.id] = _DeskRef(desk)
            if ref.linger is not None:
                ref.linger.cancel()
                ref.linger = None
            ref.users += 1
            return ref.desk

    def drop_desk(self, engineer_id: str) -> None:
        ref = self.desks.get(engineer_id)
        if ref is None:
            return
        ref.users -= 1
        if ref.users <= 0:
            ref.linger = asyncio.get_running_loop().create_task(self._close_later(engineer_id, ref))

    def _cut(self, engineer_id: str) -> None:
        """The engineer's link was closed by the server (the account was disabled): every SSH connection
        of that engineer on this node ends now too."""
        for conn, login in list(self.logins.items()):
            if login.account.engineer.id == engineer_id and isinstance(conn, asyncssh.SSHServerConnection):
                log.info(
                    "ssh connection ended: the engineer's link was closed by the server",
                    extra={"actor": f"engineer:{login.account.engineer.username}"},
                )
                conn.disconnect(asyncssh.DISC_BY_APPLICATION, "the account was disabled")

    async def _close_later(self, engineer_id: str, ref: _DeskRef) -> None:
        await asyncio.sleep(DESK_LINGER)
        async with self.desk_lock:
            if self.desks.get(engineer_id) is ref and ref.users <= 0:
                del self.desks[engineer_id]
                await ref.desk.close()

    # -- sessions (the prompt, single commands, refused subsystems) -------------------------------------

    async def _process(self, process: asyncssh.SSHServerProcess[str]) -> None:
        login = self.logins.get(process.channel.get_connection())
        try:
            if login is None:
                process.exit(FAILED)
                return
            async with asyncio.timeout(LOGIN_TIMEOUT):
                await login.ready.wait()
            await asyncio.sleep(0)  # let a forwarding request sent before this one be refused first
            for key in login.refused:
                process.stderr.write(say(login.lang, key) + "\n")
            login.refused.clear()
            if process.subsystem is not None:
                name = process.subsystem[:60]
                process.stderr.write(say(login.lang, "refused_subsystem", name=name) + "\n")
                process.exit(FAILED)
                return
            if process.command is not None:
                process.exit(await self._single(process, login, process.command))
            else:
                await self._interactive(process, login)
                process.exit(0)
        except (BrokenPipeError, ConnectionError, TimeoutError, asyncssh.Error, asyncssh.TerminalSizeChanged):
            process.close()
        except Exception:
            log.exception(
                "ssh session failed",
                extra={"actor": f"engineer:{login.account.engineer.username}" if login else None},
            )
            with contextlib.suppress(Exception):
                process.exit(FAILED)

    async def _single(self, process: asyncssh.SSHServerProcess[str], login: Login, line: str) -> int:
        try:
            command = parse(line)
        except CommandError as exc:
            process.stderr.write(say(login.lang, exc.key, **exc.fields) + "\n")
            return USAGE
        if command is None:
            command = parse("help")
            assert command is not None
        shell = Shell(
            login.desk,
            login.lang,
            login.fingerprint,
            lambda t: process.stdout.write(t + "\n"),
            interactive=False,
        )
        return await shell.run(command)

    async def _interactive(self, process: asyncssh.SSHServerProcess[str], login: Login) -> None:
        lang = login.lang
        out = process.stdout
        engineer = login.account.engineer
        out.write(say(lang, "welcome", name=engineer.display_name) + "\n")
        shell = Shell(login.desk, lang, login.fingerprint, lambda t: out.write(t + "\n"), interactive=True)
        listener = login.desk.listen()
        printer = asyncio.create_task(self._print_events(listener, shell, process))
        bucket = TokenBucket(LINES_PER_SECOND, LINE_BURST)
        told_busy = False
        reader = _LineReader(process.stdin)
        try:
            while True:
                out.write(_prompt(shell))
                line = await reader.next()
                if line is None:
                    return
                if line is _TOO_LONG:
                    out.write(say(lang, "line_too_long", limit=MAX_LINE) + "\n")
                    continue
                if not bucket.take():
                    if not told_busy:
                        out.write(say(lang, "busy") + "\n")
                        told_busy = True
                    continue
                told_busy = False
                try:
                    command = parse(line)
                except CommandError as exc:
                    out.write(say(lang, exc.key, **exc.fields) + "\n")
                    continue
                if command is None:
                    continue
                if command.verb in ("quit", "exit"):
                    out.write(say(lang, "bye") + "\n")
                    return
                await shell.run(command)
        finally:
            printer.cancel()
            login.desk.unlisten(listener)

    async def _print_events(
        self, listener: asyncio.Queue[Event], shell: Shell, process: asyncssh.SSHServerProcess[str]
    ) -> None:
        while True:
            event = await listener.get()
            lines = describe_event(shell.lang, event)
            if lines:
                process.stdout.write("\r" + "\n".join(lines) + "\n" + _prompt(shell))


def _prompt(shell: Shell) -> str:
    if shell.current and shell.desk.sessions.get(shell.current) is not None:
        return say(shell.lang, "prompt_session", session=shell.current[-6:])
    return say(shell.lang, "prompt")


_TOO_LONG = "\x00too long"


class _LineReader:
    """Lines from the channel, each at most MAX_LINE characters (a longer one is skipped whole, and
    reported once), whatever the client sends."""

    def __init__(self, stdin: asyncssh.SSHReader[str]) -> None:
        self.stdin = stdin
        self.buf = ""
        self.skipping = False
        self.after_cr = False  # the last line ended with CR: a LF right after it ends nothing more

    async def next(self) -> str | None:
        while True:
            cut = min((i for i in (self.buf.find("\n"), self.buf.find("\r")) if i >= 0), default=-1)
            if cut >= 0:
                line, ending, self.buf = self.buf[:cut], self.buf[cut], self.buf[cut + 1 :]
                crlf = self.after_cr and cut == 0 and ending == "\n"
                self.after_cr = ending == "\r"
                if crlf:
                    continue
                if self.skipping:
                    self.skipping = False
                    return _TOO_LONG
                return line
            if len(self.buf) > MAX_LINE:
                self.buf = ""
                self.skipping = True
            try:
                data = await self.stdin.read(READ_SIZE)
            except (asyncssh.TerminalSizeChanged, asyncssh.BreakReceived, asyncssh.SignalReceived):
                continue  # asyncssh raises a resized window, a break (`~B`) or a signal here: not a line
            if not data:
                return None
            self.buf += data


class _Connection(asyncssh.SSHServer):
    """One SSH connection's authentication and channel policy."""

    def __init__(self, gateway: Gateway) -> None:
        self.gateway = gateway
        self.conn: asyncssh.SSHServerConnection | None = None
        self.account: keys.LoginAccount | None = None
        self.key_ok: tuple[str, int | None] | None = None  # (fingerprint, certificate serial)
        self.address = ""
        self.refused: list[str] = []
        self.login: Login | None = None

    # -- the connection ------------------------------------------------------------------------------

    def connection_made(self, conn: asyncssh.SSHServerConnection) -> None:
        self.conn = conn
        peer = conn.get_extra_info("peername")
        self.address = str(peer[0]) if peer else ""
        # asyncssh calls these on the connection; wrapping them on this instance lets the gateway see
        # which key (or certificate) signed, and say why agent and X11 forwarding are refused.
        check_key = conn.validate_public_key

        async def validate_public_key(username: str, key_data: bytes, msg: bytes, signature: bytes) -> bool:
            ok = await check_key(username, key_data, msg, signature)
            if not ok or not msg:
                return bool(ok)  # a query (no signature yet), or refused already
            return await self._signed(key_data)

        async def no_agent() -> bool:
            self.refused.append("refused_agent")
            return False

        async def no_x11(*_: object) -> None:
            self.refused.append("refused_x11")

        conn.validate_public_key = validate_public_key  # type: ignore[method-assign]
        conn.create_agent_listener = no_agent  # type: ignore[method-assign]
        conn.attach_x11_listener = no_x11  # type: ignore[method-assign,assignment]

    def connection_lost(self, exc: Exception | None) -> None:
        if self.conn is not None:
            self.gateway.logins.pop(self.conn, None)
        if self.login is not None and hasattr(self.login, "desk"):
            self.gateway.drop_desk(self.login.account.engineer.id)

    # -- authentication -------------------------------------------------------------------------------

    async def begin_auth(self, username: str) -> bool:
        if could_be_username(username):
            self.account = await keys.login_account(self.gateway.services.engine, username)
        return True

    def password_auth_supported(self) -> bool:
        return False

    def public_key_auth_supported(self) -> bool:
        return self.key_ok is None

    def _allowed(self) -> bool:
        account = self.account
        return account is not None and not account.engineer.disabled and not account.locked

    async def validate_public_key(self, username: str, key: asyncssh.SSHKey) -> bool:
        if not self._allowed():
            return False
        assert self.account is not None
        found = await keys.active_key(
            self.gateway.services.engine, self.account.engineer.id, keys.key_fingerprint(key)
        )
        return found is not None

    def validate_ca_key(self, username: str, key: asyncssh.SSHKey) -> bool:
        return self._allowed() and key.public_data == self.gateway.ca_public.public_data

    async def _signed(self, key_data: bytes) -> bool:
        """A key or certificate asyncssh accepted, with a good signature: the gateway's last checks."""
        assert self.account is not None
        engine = self.gateway.services.engine
        serial: int | None = None
        try:
            cert = decode_ssh_certificate(key_data)
        except (asyncssh.KeyImportError, ValueError):
            cert = None
        if isinstance(cert, SSHOpenSSHCertificate):
            # asyncssh keeps the serial it parsed without a public accessor (2.24); no serial, no login.
            raw_serial = getattr(cert, "_serial", None)
            print_key = keys.key_fingerprint(cert.key)
            serial = int(raw_serial) if isinstance(raw_serial, int) else -1
            if serial < 0 or await keys.active_certificate(engine, self.account.engineer.id, serial) is None:
                await self._refusal("certificate revoked or not issued", print_key)
                return False
        else:
            print_key = keys.key_fingerprint(decode_ssh_public_key(key_data))
        self.key_ok = (print_key, serial)
        # With TOTP this is not yet a login: keyboard-interactive (the TOTP prompt) is offered next.
        return not self.account.engineer.totp_enabled

    def kbdint_auth_supported(self) -> bool:
        return self.key_ok is not None and self.account is not None and self.account.engineer.totp_enabled

    def get_kbdint_challenge(
        self, username: str, lang: str, submethods: str
    ) -> tuple[str, str, str, list[tuple[str, bool]]]:
        account_lang = self.account.lang if self.account else "en"
        return (say(account_lang, "totp_title"), "", "", [(say(account_lang, "totp_prompt"), True)])

    async def validate_kbdint_response(self, username: str, responses: Sequence[str]) -> bool:
        if self.key_ok is None or self.account is None or len(responses) != 1:
            return False
        throttle = self.gateway.throttle
        if throttle.admit(self.address, username) > 0:
            await self._refusal("too many wrong TOTP codes; backing off", self.key_ok[0])
            return False  # not even checked: a right code is refused too until the back-off ends
        ok = await keys.verify_totp(self.gateway.services.engine, self.account.engineer.id, responses[0])
        if ok:
            throttle.succeeded(self.address, username)
        else:
            throttle.failed(self.address, username)
            await self._refusal("wrong TOTP code", self.key_ok[0])
        return ok

    async def _refusal(self, why: str, print_key: str) -> None:
        assert self.account is not None
        with contextlib.suppress(AuditWriteError):
            await self.gateway.services.record(
                "ssh.login_refused",
                f"engineer:{self.account.engineer.username}",
                None,
                {"via": "ssh", "fingerprint": print_key, "reason": why, "address": self.address},
            )

    def auth_completed(self) -> None:
        assert self.conn is not None and self.account is not None and self.key_ok is not None
        login = Login(
            self.account,
            self.key_ok[0],
            self.key_ok[1],
            self.address,
            self.gateway.spool_dir,
            totp=self.account.engineer.totp_enabled,
            refused=self.refused,
        )
        self.login = login
        self.gateway.logins[self.conn] = login
        asyncio.get_running_loop().create_task(self._start(login))

    async def _start(self, login: Login) -> None:
        """Audit the login, then open (or share) the engineer's desk; sessions wait for it."""
        conn = self.conn
        assert conn is not None
        engineer = login.account.engineer
        try:
            await self.gateway.services.record(
                "ssh.login",
                f"engineer:{engineer.username}",
                None,
                {
                    "via": "ssh",
                    "fingerprint": login.fingerprint,
                    "certificate": str(login.serial) if login.serial is not None else None,
                    "totp": login.totp,
                    "address": login.address,
                },
            )
            login.desk = await self.gateway.take_desk(login)
            if self.gateway.logins.get(conn) is not login:
                # The client hung up while the desk opened: connection_lost could not give it back then.
                self.gateway.drop_desk(engineer.id)
                return
        except (AuditWriteError, DeskError, TimeoutError, ConnectionError):
            log.exception("ssh login could not start", extra={"actor": f"engineer:{engineer.username}"})
            self.gateway.logins.pop(conn, None)
            self.login = None
            conn.disconnect(asyncssh.DISC_SERVICE_NOT_AVAILABLE, "the server cannot record this login now")
            return
        login.ready.set()

    # -- forwarding: none ----------------------------------------------------------------------------

    def connection_requested(self, dest_host: str, dest_port: int, orig_host: str, orig_port: int) -> bool:
        lang = self.login.lang if self.login else "en"
        raise asyncssh.ChannelOpenError(
            asyncssh.OPEN_ADMINISTRATIVELY_PROHIBITED, say(lang, "refused_forward")
        )

    def server_requested(self, listen_host: str, listen_port: int) -> bool:
        return False

    def unix_connection_requested(self, dest_path: str) -> bool:
        lang = self.login.lang if self.login else "en"
        raise asyncssh.ChannelOpenError(
            asyncssh.OPEN_ADMINISTRATIVELY_PROHIBITED, say(lang, "refused_forward")
        )

    def unix_server_requested(self, listen_path: str) -> bool:
        return False
