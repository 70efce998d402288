"""The vault's exceptions. Each carries a bilingual `Text` so the CLI and the panel show the same words.

VaultError
├── NotInitialized        no vault in this data dir yet
├── AlreadyInitialized
├── WrongPassphrase       the key did not unwrap; nothing was changed
├── SessionActive         an engineer session is on: opening is refused, even for the user
├── FolderRefused         a folder or an item in it cannot be protected (link, overlap, special file…)
├── FolderBusy            a file changed while it was being encrypted; nothing was changed
├── VerifyFailed          the new ciphertext did not read back; plaintext kept
├── UnknownFolder
├── Damaged               ciphertext failed authentication; names the damaged item
├── MetadataDamaged       vault.json cannot be read (truncated, not JSON); nothing was changed
├── MetadataTampered      vault.json does not match its authentication; nothing was changed
├── AgentSilent           the running agent did not say whether a session is active
├── StepFailed            a file operation failed; says what was done about it
└── LockTimeout           another vault operation holds the lock
"""

from __future__ import annotations

from agent.i18n import Lang, Text


class VaultError(Exception):
    """Base of every vault failure; `message(lang)` is what the user reads."""

    text = Text("保险箱出错", "Vault error")

    def __init__(self, **fields: object) -> None:
        self.fields = fields
        super().__init__(self.message("en"))

    def message(self, lang: Lang) -> str:
        # A field may itself be bilingual (a reason, an outcome): rendered in the same language.
        fields = {k: v.render(lang) if isinstance(v, Text) else v for k, v in self.fields.items()}
        return self.text.render(lang, **fields)

    def bilingual(self) -> Text:
        """Both languages at once, for a feed entry or a panel answer."""
        return Text(self.message("zh-CN"), self.message("en"))


class NotInitialized(VaultError):
    text = Text(
        "还没有创建保险箱，请先运行 “rme-agent vault init”", "No vault yet: run “rme-agent vault init” first"
    )


class AlreadyInitialized(VaultError):
    text = Text("保险箱已经存在（{path}）", "A vault already exists ({path})")


class WrongPassphrase(VaultError):
    text = Text("口令不对，保险箱没有任何改动", "Wrong passphrase; nothing in the vault was changed")


class SessionActive(VaultError):
    text = Text(
        "工程师正在远程协助中，会话结束前保险箱不能打开（这是为了保护您的隐私，您本人也不例外）",
        "An engineer session is active: the vault cannot be opened until it ends "
        "(this protects your privacy, so it applies to you too)",
    )


class FolderRefused(VaultError):
    text = Text("不能保护 {path}：{reason}", "Cannot protect {path}: {reason}")


class FolderBusy(VaultError):
    text = Text(
        "“{path}” 在加密过程中被修改了，请关闭正在使用它的程序后重试；没有做任何改动",
        "“{path}” changed while it was being encrypted; close the program using it and try again. "
        "Nothing was changed",
    )


class VerifyFailed(VaultError):
    text = Text(
        "加密后校验失败（{item}），明文没有删除",
        "Verification after encryption failed ({item}); the plaintext was not removed",
    )


class UnknownFolder(VaultError):
    text = Text("保险箱里没有名为 “{name}” 的文件夹", "The vault has no folder named “{name}”")


class Damaged(VaultError):
    text = Text(
        "“{item}” 的密文已损坏或被篡改，无法解密（损坏的数据保留在 {kept}）",
        "The ciphertext of “{item}” is damaged or was tampered with and cannot be decrypted "
        "(the damaged data is kept in {kept})",
    )


class MetadataDamaged(VaultError):
    text = Text(
        "保险箱的记录文件 {path} 已损坏，无法读取（{why}）；没有做任何改动。在修复之前保险箱不能打开或关闭，"
        "也不能开始远程协助（无法确认哪些文件夹是打开的）。请从备份恢复这个文件；如果没有备份，"
        "可以把它所在的 vault 文件夹整个移到别处（加密的文件仍在里面）",
        "The vault's record file {path} is damaged and cannot be read ({why}); nothing was changed. "
        "Until it is repaired the vault cannot be opened or closed, and no remote session can start "
        "(which folders are open is unknown). Restore the file from a backup; without one, move the "
        "whole vault folder it is in somewhere else (the encrypted files stay inside it)",
    )


class MetadataTampered(VaultError):
    text = Text(
        "保险箱的记录文件 {path} 被改动过（{why}），与口令保护的记录不符；为安全起见没有解密任何文件",
        "The vault's record file {path} was changed behind the vault's back ({why}) and does not match "
        "what the passphrase protects; to be safe nothing was decrypted",
    )


class AgentSilent(VaultError):
    text = Text(
        "正在运行的 RME 代理没有回答，无法确认是否有工程师会话，所以保险箱没有打开；请稍后再试",
        "The running RME agent did not answer, so it is not known whether an engineer session is "
        "active; the vault was not opened. Try again shortly",
    )


class StepFailed(VaultError):
    text = Text("“{path}”：{error}。{outcome}", "“{path}”: {error}. {outcome}")


class LockTimeout(VaultError):
    text = Text(
        "另一个保险箱操作正在进行，请稍后再试", "Another vault operation is running; try again shortly"
    )


class CorruptBlob(Exception):
    """Raised by the stream layer; the vault turns it into `Damaged` naming the item."""
