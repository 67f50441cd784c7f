from __future__ import annotations

import logging
import sys

import orjson
import pytest

from mnwd.logs import JsonFormatter, TextFormatter, configure_logging, request_id_var


def _record(msg: str, **extra: object) -> logging.LogRecord:
    record = logging.makeLogRecord({"name": "mnwd.test", "levelname": "INFO", "levelno": 20, "msg": msg})
    record.__dict__.update(extra)
    return record


def test_json_lines_carry_request_id_and_fields() -> None:
    token = request_id_var.set("req-1")
    try:
        line = JsonFormatter().format(_record("hello %s", status=200))
    finally:
        request_id_var.reset(token)
    entry = orjson.loads(line)
    assert entry["msg"] == "hello %s"
    assert entry["request_id"] == "req-1"
    assert entry["status"] == 200
    assert entry["level"] == "info"
    assert entry["ts"].endswith("Z")


def test_json_lines_include_tracebacks() -> None:
    try:
        raise RuntimeError("boom")
    except RuntimeError:
        record = logging.LogRecord("mnwd", logging.ERROR, __file__, 1, "failed", None, exc_info=True)
        record.exc_info = sys.exc_info()
    entry = orjson.loads(JsonFormatter().format(record))
    assert "RuntimeError: boom" in entry["exc"]


def test_text_format_appends_request_id() -> None:
    token = request_id_var.set("req-2")
    try:
        line = TextFormatter().format(_record("hello"))
    finally:
        request_id_var.reset(token)
    assert line.endswith("mnwd.test: hello [req-2]")


@pytest.mark.parametrize("fmt", ["json", "text"])
def test_configure_logging_installs_one_handler(fmt: str) -> None:
    root = logging.getLogger()
    saved = root.handlers[:], root.level
    try:
        configure_logging(logging.WARNING, fmt)
        assert len(root.handlers) == 1
        assert root.level == logging.WARNING
    finally:
        root.handlers[:], root.level = saved[0], saved[1]
