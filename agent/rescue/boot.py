"""`rme-agent rescue boot`: what the rescue live system runs on tty1 and ttyS0.

1. read the provisioning slot from the boot medium and verify its signature with the server key the
   image carries — a bad blob is refused on screen and nothing else happens;
2. bring the network up (wired DHCP; PPPoE with the account the user types);
3. enroll with the blob's single-use code (refused on screen when expired or already used), unless this
   boot enrolled already;
4. run the agent (same runtime, book, guard and executors as on a PC, with the rescue actions on) and
   call for an expert; every request waits on screen for Allow (Y) / Deny (N); K ends the session at
   once (the kill switch).
The screen is drawn from the runtime's own panel state, so it shows what the panel would.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import platform
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any

from agent.i18n import Text
from agent.rescue import confirm, network
from agent.rescue.fbterm import follow_fbterm
from agent.rescue.screen import Terminals

if TYPE_CHECKING:
    from rescue.provision import Provision

# Imported on a thread of their own once the first screen is drawn: under emulation they take tens of
# seconds, which now overlap with the slot's check, DHCP and enrollment instead of preceding them.
# (The main thread importing one of them meanwhile just waits for that module.)
HEAVY_MODULES = ("rescue.provision", "agent.datadir", "agent.connection", "agent.config", "agent.app")
CONSOLES = (Path("/dev/tty1"), Path("/dev/ttyS0"))

SLOT = Path("/run/live/medium/rme/provision.slot")
MEDIUM = Path("/run/live/medium")


def find_slot(cmdline: str) -> Path:
    """The slot on the boot medium: the hard-disk edition's GRUB entry says where (`rme.slot=`)."""
    for arg in cmdline.split():
        if arg.startswith("rme.slot="):
            return MEDIUM / arg.split("=", 1)[1].lstrip("/")
    return SLOT


def boot_slot() -> Path:
    try:
        return find_slot(Path("/proc/cmdline").read_text())
    except OSError:
        return SLOT


PUBLIC_KEY = Path("/opt/rme/rescue-signing.pub")
DATA_DIR = Path("/run/rme")

T_TITLE = Text("RME 远程救援", "RME Rescue")
T_STARTING = Text("正在启动……", "Starting …")
T_BAD_SIGNATURE = Text(
    "此救援盘的配置签名无效，已拒绝。请向服务商重新索取救援盘。",
    "This rescue image's provisioning signature does not verify: refused. Ask your provider for a new image.",
)
T_NO_SLOT = Text("此救援盘没有配置（未发给客户）。", "This rescue image was not issued to a customer.")
T_BAD_SLOT = Text("此救援盘的配置无法读取：{why}", "This rescue image's provisioning cannot be read: {why}")
T_EXPIRED = Text(
    "注册码已过期，已拒绝。请向服务商重新索取救援盘。",
    "The enrollment code has expired: refused. Ask your provider for a new rescue image.",
)
T_USED = Text(
    "注册码已被使用过，已拒绝。请向服务商重新索取救援盘。",
    "The enrollment code was already used: refused. Ask your provider for a new rescue image.",
)
T_NET = Text("正在连接网络（有线 DHCP）……", "Connecting to the network (wired DHCP) …")
T_NET_NONE = Text(
    "没有网络。按 P 拨号上网（PPPoE），按 R 重试。", "No network. Press P to dial (PPPoE), R to retry."
)
T_NET_OK = Text("网络：{addrs}", "Network: {addrs}")
T_ACCOUNT = Text("宽带账号：", "Broadband account: ")
T_PASSWORD = Text("宽带密码：", "Broadband password: ")
T_DIALLING = Text("正在拨号（{interface}）……", "Dialling ({interface}) …")
T_DIAL_OK = Text("拨号成功：{addr}", "Dial-up connected: {addr}")
T_DIAL_FAILED = Text(
    "拨号没有成功。请检查宽带账号和密码，以及光猫是否开机，再按 P 重试。",
    "The dial-up did not connect. Check the broadband account and password and that the modem is on, "
    "then press P to try again.",
)
T_ENROLLING = Text("正在向服务商登记这台电脑……", "Registering this PC with your provider …")
T_ENROLL_RETRY = Text("登记失败，稍后重试：{why}", "Registration failed, retrying: {why}")
T_ONLINE = Text("已连接服务商，正在呼叫专家。", "Connected to your provider; calling an expert.")
T_OFFLINE = Text("与服务商的连接：{state}", "Connection to the provider: {state}")
T_HELP_WORDS = Text(
    "电脑系统无法启动，已用救援盘启动", "The PC's system does not start; booted the rescue disk"
)
T_ENGINEER = Text("工程师：{name}", "Engineer: {name}")
T_REQUEST = Text("请求：{title}", "Request: {title}")
T_KEYS_PROMPT = Text("[Y] 允许   [N] 拒绝", "[Y] Allow   [N] Deny")
T_KEYS = Text(
    "[K] 立即结束会话   [H] 呼叫专家   [P] 拨号上网   [R] 重新连接网络",
    "[K] End the session now   [H] Call an expert   [P] Dial (PPPoE)   [R] Retry the network",
)
T_HELD = Text(
    "命令输出（{size} 字节），发给工程师吗？", "Command output ({size} bytes): send it to the engineer?"
)
T_KEYS_HELD = Text("[S] 发送   [W] 不发送，留在这台电脑上", "[S] Send   [W] Keep it on this PC")
T_ENDED = Text("会话已结束（K）。", "Session ended (K).")
T_DIAG = Text("诊断：{words}", "Diagnosis: {words}")


def both(text: Text, **fields: object) -> list[str]:
    return [text.render("zh-CN", **fields), text.render("en", **fields)]


class RescueBoot:
    def __init__(self, terms: Terminals, slot: Path, public_key: Path, data_dir: Path) -> None:
        self.terms = terms
        self.slot = slot
        self.public_key = public_key
        self.data_dir = data_dir
        self.status: list[str] = both(T_STARTING)
        self.marker = "starting"  # a stable word for tests and logs: RME-STATE: <marker>
        self.net: list[str] = []
        self.note: list[str] = []
        self.runtime: Any = None
        self.typed = ""  # the disk's name as typed so far (second confirmation of a disk write)

    # -- drawing ---------------------------------------------------------------------------------

    def set(self, marker: str, text: Text, **fields: object) -> None:
        self.marker = marker
        self.status = both(text, **fields)
        self.draw()

    def draw(self) -> None:
        lines = [f"==== {T_TITLE.zh} / {T_TITLE.en} ====", *self.status, *self.net]
        state = self.runtime.state_json() if self.runtime is not None else None
        if state is not None:
            conn = state["connection"]["state"]
            if conn != "online":
                lines += both(T_OFFLINE, state=conn)
            words = state.get("diagnosis_words")
            if words:
                lines += [T_DIAG.render(lang, words=words.get(lang, "")) for lang in ("zh-CN", "en")]
            session = state["guard"]["session"]
            if session:
                lines += both(T_ENGINEER, name=session["engineer"]["name"])
            for prompt in state["guard"]["prompts"]:
                lines.append("---- ----")
                if prompt["kind"] == "session":
                    lines += [prompt["content"]["title"]["zh-CN"], prompt["content"]["title"]["en"]]
                else:
                    for lang in ("zh-CN", "en"):
                        shown = prompt["content"][lang]
                        lines.append(T_REQUEST.render(lang, title=shown["title"]))
                        lines += shown["what"].splitlines()
                lines += both(T_KEYS_PROMPT)
                lines.append(f"RME-PROMPT: {prompt['kind']} {int(prompt['seconds_left'])}s")
            lines += self.disk_question_lines(state)
            for output in state["guard"]["outputs"]:
                if output["state"] != "held":
                    continue
                lines.append("---- ----")
                lines += both(T_HELD, size=output["size"])
                lines.append("$ " + output["command"])
                lines += output["output"].splitlines()[-20:]  # the panel shows it all; a tty its tail
                lines += both(T_KEYS_HELD)
                lines.append(f"RME-PROMPT: output {output['action_id']}")
                break
            lines.append("---- ----")
            for entry in state["feed"][-6:]:
                lines.append(f"{entry['text']['zh-CN']} / {entry['text']['en']}"[:200])
        lines += self.note
        lines += ["", *both(T_KEYS), f"RME-STATE: {self.marker}"]
        self.terms.draw(lines)

    def disk_question_lines(self, state: dict[str, Any]) -> list[str]:
        """A disk about to be overwritten (`rescue_write_image`): its description and what is typed."""
        lines: list[str] = []
        for question in state.get("disk_questions", [])[:1]:
            lines.append("---- ----")
            for lang in ("zh-CN", "en"):
                lines += question["text"][lang]
            lines += both(confirm.T_TYPED, typed=self.typed)
            lines.append(f"RME-PROMPT: disk {question['name']}")
        return lines

    # -- steps -----------------------------------------------------------------------------------

    def provision(self) -> Provision | None:
        from rescue.provision import (  # noqa: PLC0415  (see HEAVY_MODULES)
            BadSignature,
            ProvisionError,
            load_public_key,
            open_slot,
        )

        try:
            key = load_public_key(self.public_key.read_text())
            found = open_slot(self.slot.read_bytes()[: 1 << 16], key)
        except BadSignature:
            self.set("refused:bad-signature", T_BAD_SIGNATURE)
            return None
        except ProvisionError as exc:
            if "not issued" in str(exc):
                self.set("refused:not-issued", T_NO_SLOT)
            else:
                self.set("refused:bad-slot", T_BAD_SLOT, why=str(exc))
            return None
        except OSError as exc:
            self.set("refused:bad-slot", T_BAD_SLOT, why=str(exc))
            return None
        return found

    async def network(self) -> None:
        while True:
            self.set("network", T_NET)
            found = await network.dhcp()
            if found:
                self.show_addresses(found)
                return
            self.set("no-network", T_NET_NONE)
            key = await self.terms.keys.get()
            if key.lower() == "p" and await self.dial():
                return

    def show_addresses(self, found: dict[str, str]) -> None:
        self.net = both(T_NET_OK, addrs=", ".join(f"{k} {v}" for k, v in found.items()))

    async def dial(self) -> dict[str, str]:
        """PPPoE with the account and password the user types; the addresses the PC has afterwards."""
        self.note = [T_ACCOUNT.render("zh-CN") + " / " + T_ACCOUNT.render("en")]
        self.draw()
        account = await self.terms.read_line()
        self.note = [T_PASSWORD.render("zh-CN") + " / " + T_PASSWORD.render("en")]
        self.draw()
        password = await self.terms.read_line(secret=True)
        names = network.wired()
        found: dict[str, str] = {}
        if names:
            self.note = both(T_DIALLING, interface=names[0])
            self.draw()
            found = await network.pppoe(names[0], account, password)
        if found:
            self.show_addresses(found)
        self.note = both(T_DIAL_OK, addr=found["ppp0"]) if "ppp0" in found else both(T_DIAL_FAILED)
        self.draw()
        return found

    async def enroll(self, found: Provision) -> bool:
        from agent.connection import AgentClient, ConnectError, IdentityStore  # noqa: PLC0415

        identities = IdentityStore(self.data_dir)
        if identities.load() is not None:
            return True  # this boot enrolled already (the service restarted)
        if found.expired():
            self.set("refused:code-expired", T_EXPIRED)
            return False
        ca = self.data_dir / "ca.pem"
        while True:
            self.set("enrolling", T_ENROLLING)
            client = AgentClient(found.server, ca, identities, connect_timeout=20)
            try:
                await client.enroll(found.code, f"[rescue] {platform.node()}")
                return True
            except ConnectError as exc:
                if "enroll.code_used" in str(exc) or "enroll.unknown_code" in str(exc):
                    self.set("refused:code-used", T_USED)
                    return False
                if "enroll.code_expired" in str(exc):
                    self.set("refused:code-expired", T_EXPIRED)
                    return False
                self.set("enroll-retry", T_ENROLL_RETRY, why=str(exc)[:120])
            except (OSError, TimeoutError, Exception) as exc:  # network trouble: retry
                self.set("enroll-retry", T_ENROLL_RETRY, why=f"{type(exc).__name__}: {exc}"[:120])
            await asyncio.sleep(3)

    async def serve(self, found: Provision) -> None:
        from agent.app import AgentRuntime  # noqa: PLC0415  (see HEAVY_MODULES)
        from agent.config import AgentConfig  # noqa: PLC0415

        config = AgentConfig(
            server=found.server,
            data_dir=self.data_dir,
            inbox=self.data_dir / "inbox",
            lang="zh-CN",
            open_browser=False,
            rescue=True,
            reconnect_max=5.0,
        )
        runtime = AgentRuntime(config)
        self.runtime = runtime
        task = asyncio.ensure_future(runtime.run(T_HELP_WORDS.render("zh-CN")))
        await runtime.ready.wait()
        await self.screen(task)

    async def screen(self, task: asyncio.Future[Any]) -> None:
        """Draw the runtime's state and hand the keys to it until `task` (the runtime) ends."""
        runtime = self.runtime
        since = 0
        while not task.done():
            state = runtime.state_json()["connection"]["state"]
            self.marker = "online" if state == "online" else f"connection:{state}"
            self.status = both(T_ONLINE) if state == "online" else []
            self.draw()
            keys = asyncio.ensure_future(self.terms.keys.get())
            changed = asyncio.ensure_future(runtime.changed(since, 1.0))
            done, _ = await asyncio.wait({keys, changed, task}, return_when=asyncio.FIRST_COMPLETED)
            if changed in done:
                since = changed.result()
            else:
                changed.cancel()
            if keys in done:
                await self.key(keys.result())
            else:
                keys.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await keys

    async def key(self, key: str) -> None:
        runtime = self.runtime
        questions = runtime.state_json().get("disk_questions", [])
        if questions:  # every key goes into the typed name (Esc or Enter ends it); K is a letter here
            self.typed, finished = confirm.edit(self.typed, key)
            if finished:
                runtime.answer_disk(questions[0]["action_id"], self.typed)
                self.typed = ""
            self.draw()
            return
        key = key.lower()
        prompts = runtime.state_json()["guard"]["prompts"]
        if key in ("y", "n") and prompts:
            runtime.answer(prompts[0]["id"], key == "y")
        elif key in ("s", "w"):
            held = [o for o in runtime.state_json()["guard"]["outputs"] if o["state"] == "held"]
            if held:
                runtime.release(held[0]["action_id"], key == "s")
        elif key == "k":
            await runtime.end_session()
            self.note = both(T_ENDED)
        elif key == "h":
            await runtime.ask_for_help(T_HELP_WORDS.render("zh-CN"))
        elif key == "p":
            await self.dial()
        elif key == "r":
            await network.dhcp()

    async def run(self) -> int:
        self.terms.start()
        self.draw()
        threading.Thread(target=import_heavy, name="rme-imports", daemon=True).start()
        found = self.provision()
        if found is None:
            await asyncio.Event().wait()  # stay on screen: the user reads why
            return 1
        from agent.datadir import make_private  # noqa: PLC0415

        make_private(self.data_dir)
        (self.data_dir / "ca.pem").write_text(found.ca_pem)
        network.drop_template_peers()
        await self.network()
        if not await self.enroll(found):
            await asyncio.Event().wait()
            return 1
        await self.serve(found)
        return 0


def import_heavy() -> None:
    for name in HEAVY_MODULES:
        with contextlib.suppress(Exception):  # the main thread's own import reports any error
            importlib.import_module(name)


def main_on_consoles() -> int:
    """What the rescue system's unit starts: the screen on the PC's console and its serial port."""
    return main(list(CONSOLES), slot=boot_slot(), fbterm=True)


def main(
    ttys: list[Path],
    slot: Path = SLOT,
    public_key: Path = PUBLIC_KEY,
    data_dir: Path = DATA_DIR,
    *,
    fbterm: bool = False,
) -> int:
    """`fbterm`: tty1 is the PC's console, drawn through fbterm once it runs (`agent.rescue.fbterm`)."""

    async def go() -> int:
        terms = Terminals(ttys)
        following = asyncio.create_task(follow_fbterm(terms)) if fbterm else None
        try:
            return await RescueBoot(terms, slot, public_key, data_dir).run()
        finally:
            if following is not None:
                following.cancel()
            terms.close()

    return asyncio.run(go())
