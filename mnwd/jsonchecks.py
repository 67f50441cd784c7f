"""Checks of text and JSON that PostgreSQL would refuse or blow up, shared by the domains that store them.

- ``numbers_problem(raw, max_bytes)`` -> why a JSON document's numbers cannot be stored as jsonb (too many
  digits once written out in full, or beyond PostgreSQL's numeric range), or None.
- ``text_problem(text)`` -> why a text cannot be stored (a NUL character), or None.
"""

from __future__ import annotations

import json
import re

__all__ = ["numbers_problem", "text_problem"]


# A number with an exponent where JSON allows a number (after ``:``, ``,`` or ``[`` and whitespace), looked
# for in a sketch of the document: whitespace dropped, those three as ``:``, digits as ``0``, ``e``/``E`` as
# ``e``, every other byte but ``-.+`` as ``x``. A quick filter, not a parser: text inside a string may match
# (then `json.loads` decides), a base64 string (what end-to-end encrypted clients send) never does, and no
# number with an exponent escapes it. Sketching and searching from a literal ``:`` is twice as fast as a
# regular expression over the document itself.
def _sketch_table() -> bytes:
    table = bytearray(b"x" * 256)
    for byte in b":,[":
        table[byte] = ord(":")
    for byte in b"0123456789":
        table[byte] = ord("0")
    for byte in b"eE":
        table[byte] = ord("e")
    for byte in b"-.+":
        table[byte] = byte
    return bytes(table)


_SKETCH = _sketch_table()
_EXPONENT_IN_SKETCH = re.compile(rb":-?0+(?:\.0+)?e")


def numbers_problem(raw: bytes, max_bytes: int) -> str | None:
    """jsonb keeps numbers written out in full: ``1e100000`` becomes 100,001 digits, and past PostgreSQL's
    numeric range (131,072 digits before the point, 16,383 after) it is an error. Refuse what would grow past
    the size limit or out of that range."""
    if not _EXPONENT_IN_SKETCH.search(raw.translate(_SKETCH, b" \t\r\n")):
        return None
    grown = 0
    out_of_range = False

    def measure(token: str) -> float:
        nonlocal grown, out_of_range
        mantissa, _, exponent = token.lower().partition("e")
        whole, _, fraction = mantissa.lstrip("-").partition(".")
        if len(exponent.lstrip("+-")) > 9:
            out_of_range = True
            return 0.0
        shift = int(exponent or 0)
        before, after = len(whole) + shift, len(fraction) - shift
        out_of_range = out_of_range or before > 131_072 or after > 16_383
        grown += max(before, 1) + max(after, 0)
        return 0.0

    try:
        json.loads(raw, parse_float=measure)
    except RecursionError:
        return "data nests arrays or objects too deeply"
    if out_of_range:
        return "data holds a number beyond PostgreSQL's numeric range"
    if grown > max_bytes:
        return f"data holds numbers that written out in full exceed {max_bytes} bytes"
    return None


def text_problem(text: str) -> str | None:
    if "\x00" in text:
        return "must not hold a NUL character: PostgreSQL cannot store it"
    return None
