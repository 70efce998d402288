"""Structured logs: one JSON object per line on stderr, for the server and for uvicorn alike."""

from __future__ import annotations

import json
import logging
import sys
from datetime import UTC, datetime
from typing import Any

from server.shedding import UvicornShedFilter

_STANDARD = frozenset(vars(logging.makeLogRecord({}))) | {"message", "asctime", "color_message"}


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        # `logger.info("...", extra={"device": ...})` fields become top-level keys.
        entry.update({k: v for k, v in vars(record).items() if k not in _STANDARD and not k.startswith("_")})
        if record.exc_info:
            entry["exc"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str, ensure_ascii=False)


def log_config(level: str) -> dict[str, Any]:
    """A `logging.config.dictConfig` dict, also handed to uvicorn so its access log is JSON too."""
    upper = level.upper()
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"json": {"()": JsonFormatter}},
        # uvicorn's two lines per 503 the server sheds with; `server.shedding` logs a summary instead.
        "filters": {"shed": {"()": UvicornShedFilter}},
        "handlers": {"stderr": {"class": "logging.StreamHandler", "formatter": "json", "stream": sys.stderr}},
        "loggers": {
            "rme": {"handlers": ["stderr"], "level": upper, "propagate": False},
            "uvicorn": {"handlers": ["stderr"], "level": upper, "propagate": False},
            "uvicorn.error": {"level": upper, "filters": ["shed"]},
            "uvicorn.access": {"handlers": ["stderr"], "level": upper, "propagate": False},
            # The SSH gateway's library (`server.ssh`): its warnings and errors; everything at debug.
            "asyncssh": {
                "handlers": ["stderr"],
                "level": "DEBUG" if upper == "DEBUG" else "WARNING",
                "propagate": False,
            },
        },
    }
