"""`mnwd.jsonchecks.numbers_problem`: numbers jsonb would write out past the size limit or beyond PostgreSQL's
numeric range are refused wherever JSON allows a number; text that merely looks like one is not."""

from __future__ import annotations

import pytest

from mnwd.jsonchecks import numbers_problem

LIMIT = 65_536


@pytest.mark.parametrize(
    "raw",
    [
        b'{"a":1e100000}',
        b'{"a" :\n\t-1.5E100000}',
        b'{"a":[1, 2e+200000]}',
        b'{"a":[3E1000000000]}',
        b'{"a":{"b":[0, 1.0e-20000]}}',
    ],
)
def test_numbers_beyond_the_range_or_the_size_are_refused(raw: bytes) -> None:
    assert numbers_problem(raw, LIMIT) is not None


@pytest.mark.parametrize(
    "raw",
    [
        b'{"ciphertext":"q3e5Zk9e1x0E7+/a=","iv":"7e3A"}',  # base64 full of digit-e-digit
        b'{"a":"x:1e100000"}',  # looks like a number, inside a string
        b'{"a":1.5e3,"b":[2E-3]}',  # small exponents are fine
        b'{"a":12345}',
    ],
)
def test_strings_and_small_numbers_pass(raw: bytes) -> None:
    assert numbers_problem(raw, LIMIT) is None
