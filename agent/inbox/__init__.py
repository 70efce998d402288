"""The inbox: the one-way landing place for files an engineer pushes (see `receiver` and `names`)."""

from agent.inbox.names import MAX_NAME_BYTES, is_device_name, numbered, sanitize_name
from agent.inbox.receiver import Inbox, InboxError, PendingFile

__all__ = [
    "MAX_NAME_BYTES",
    "Inbox",
    "InboxError",
    "PendingFile",
    "is_device_name",
    "numbered",
    "sanitize_name",
]
