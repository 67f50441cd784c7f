from __future__ import annotations

import logging
import sys
from pathlib import Path
from typing import Any

import orjson
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient

from mnwd.logs import JsonFormatter, TextFormatter, configure_logging, mask_secrets, request_id_var
from mnwd.tokens import new_token


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


def test_mask_secrets_hides_tokens_and_keeps_ids() -> None:
    token = new_token()
    assert mask_secrets(f"/login/link/{token}/") == "/login/link/***/"
    assert (
        mask_secrets("/x/mnwd_sk_abcDEF_12-3?k=mnwd_at_zz&r=mnwd_rt_yy") == "/x/mnwd_sk_***?k=mnwd_at_***&r=mnwd_rt_***"
    )
    kept = "/dashboard/apps/0f8fad5b-d9cb-469f-a165-70867728950e/keys"
    assert mask_secrets(kept) == kept


def test_mask_secrets_keeps_the_kind_of_a_personal_access_token() -> None:
    assert mask_secrets(f"/x?t={new_token('mnwd_pat_')}") == "/x?t=mnwd_pat_***"
    assert mask_secrets("/x/mnwd_pat_short") == "/x/mnwd_pat_***"


@pytest.mark.parametrize(
    "path",
    [
        "/login/link/{token}/",  # the leak: a trailing slash, so no route matched and nothing was masked
        "/login/link/{token}",
        "/no/such/route/{token}",
        "/sync/v1/pull?cursor=0&code={short}&access_token=mnwd_at_{token}",
        "/x/mnwd_sk_{token}",
        "/x/mnwd_pat_{token}",
    ],
)
async def test_the_access_log_never_holds_a_token(
    client: TestClient[Any, web.Application], caplog: pytest.LogCaptureFixture, path: str
) -> None:
    """The attack: whoever reads the logs (a log shipper, a support person) signs in with a live link."""
    token, short = new_token(), "abc123"
    caplog.set_level(logging.INFO)
    response = await client.get(path.format(token=token, short=short), allow_redirects=False)
    assert response.status < 500
    lines = [(r.getMessage(), repr(r.__dict__)) for r in caplog.records if r.name.startswith("mnwd")]
    assert any("***" in message for message, _ in lines)
    for message, fields in lines:
        assert token not in message
        assert token not in fields
        assert f"code={short}" not in fields


@pytest.mark.parametrize(("terminal", "kind"), [(True, TextFormatter), (False, JsonFormatter)])
def test_auto_format_is_text_on_a_terminal_and_json_otherwise(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, terminal: bool, kind: type
) -> None:
    root = logging.getLogger()
    saved = root.handlers[:], root.level
    with (tmp_path / "stderr").open("w") as stream:
        monkeypatch.setattr(stream, "isatty", lambda: terminal, raising=False)
        monkeypatch.setattr(sys, "stderr", stream)
        try:
            configure_logging(logging.INFO, "auto")
            assert isinstance(root.handlers[0].formatter, kind)
        finally:
            root.handlers[:], root.level = saved[0], saved[1]


def test_asyncssh_connection_chatter_is_not_logged_at_info(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    root = logging.getLogger()
    saved = root.handlers[:], root.level, logging.getLogger("asyncssh").level
    with (tmp_path / "stderr").open("w+") as stream:
        monkeypatch.setattr(sys, "stderr", stream)
        try:
            configure_logging(logging.INFO, "json")
            logging.getLogger("asyncssh").info("[conn=0] Local address: 127.0.0.1, port 2222")
            logging.getLogger("asyncssh").warning("[conn=0] something went wrong")
            logging.getLogger("mnwd.git").info("git-upload-pack ada/hello")
        finally:
            root.handlers[:], root.level = saved[0], saved[1]
            logging.getLogger("asyncssh").setLevel(saved[2])
        stream.seek(0)
        logged = stream.read()
    assert "Local address" not in logged
    assert "something went wrong" in logged
    assert "git-upload-pack ada/hello" in logged
