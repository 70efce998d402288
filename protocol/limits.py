"""Every size limit of the wire protocol, in one place. Enforced on decode (see `protocol.codec`)."""

from __future__ import annotations

from typing import Final

MAX_TEXT_FRAME: Final = 1 << 20  # 1 MiB: a JSON message, diagnosis report and capped output included
MAX_CHUNK_PAYLOAD: Final = 256 * 1024  # bytes of file data in one binary frame
MAX_FILE_SIZE: Final = 4 << 30  # 4 GiB: the largest file an engineer may push
MAX_COMMAND_OUTPUT: Final = 64 * 1024  # characters of a command's output returned to the engineer
MAX_COMMAND_TEXT: Final = 8 * 1024  # the command line shown verbatim to the user
MAX_CHAT_TEXT: Final = 4000
MAX_SHORT_TEXT: Final = 256  # names, reasons, labels
MAX_SUMMARY_TEXT: Final = 2000  # one finding's plain-words summary
MAX_USER_WORDS: Final = 2000  # the user's own description of the problem
MAX_FINDINGS: Final = 64
MAX_EVIDENCE_DEPTH: Final = 4
MAX_EVIDENCE_CHARS: Final = 4096  # one finding's evidence, as compact JSON
MAX_LIST_ITEMS: Final = 64
MAX_ID_LENGTH: Final = 64
MAX_FILE_NAME: Final = 255
MAX_ACTION_TIMEOUT_S: Final = 3600
MAX_AUDIT_LEAF: Final = 270_000  # one audit event's canonical JSON (its data is at most 256 KiB)
MAX_CHECKPOINT_NOTE: Final = 8192  # a signed checkpoint with its witness cosignatures
MAX_CATALOGUE_ITEMS: Final = 64  # service items offered to the user in one `catalogue`
MAX_RECORDS: Final = 50  # service receipts in one `records`
MAX_RECEIPT: Final = 200_000  # one signed service receipt (JSON text)
