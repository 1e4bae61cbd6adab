"""The API's JSON parser: DRF's, plus the inputs that must be a 400, never a 500.

Deeply nested JSON would exhaust the recursion limit (or the C stack) while parsing,
validating or storing it, so its depth is measured on the raw text before anything parses
it; a NUL character cannot be stored in a PostgreSQL text or jsonb column, so it is refused
after parsing. Both hold for every API body, whichever fields (or keys) the view declares.
"""

from __future__ import annotations

import io
import re
from typing import Any

from rest_framework import parsers
from rest_framework.exceptions import ParseError, ValidationError

# Deeper than any body this API documents (a search's filters are three levels deep).
MAX_JSON_DEPTH = 32
NUL_MESSAGE = "Null characters are not allowed."  # DRF's own wording for its text fields
# A JSON string (skipped whole, brackets in it do not nest) or a bracket.
_TOKENS_TEXT = re.compile(r'"(?:[^"\\]|\\.)*"|[\[\]{}]')
_TOKENS_BYTES = re.compile(rb'"(?:[^"\\]|\\.)*"|[\[\]{}]')


def json_too_deep(raw: str | bytes, *, max_depth: int = MAX_JSON_DEPTH) -> bool:
    """Whether JSON text nests arrays and objects more than ``max_depth`` levels, measured
    without parsing it (one regular-expression pass)."""
    tokens = _TOKENS_BYTES if isinstance(raw, bytes) else _TOKENS_TEXT
    opening = (b"[", b"{") if isinstance(raw, bytes) else ("[", "{")
    closing = (b"]", b"}") if isinstance(raw, bytes) else ("]", "}")
    depth = 0
    for match in tokens.finditer(raw):
        token = match.group()
        if token in opening:
            depth += 1
            if depth > max_depth:
                return True
        elif token in closing:
            depth -= 1
    return False


def json_problem(data: Any) -> tuple[str, str] | None:
    """Where parsed JSON holds a NUL character, as ``(dotted path, message)``, or None."""
    stack: list[tuple[Any, str]] = [(data, "")]
    while stack:
        value, where = stack.pop()
        if isinstance(value, str):
            if "\x00" in value:
                return where, NUL_MESSAGE
        elif isinstance(value, (dict, list)):
            items = value.items() if isinstance(value, dict) else enumerate(value)
            for key, item in items:
                path = f"{where}.{key}" if where else str(key)
                if isinstance(key, str) and "\x00" in key:
                    return path, NUL_MESSAGE
                stack.append((item, path))
    return None


class JSONParser(parsers.JSONParser):
    """DRF's JSON parser; nesting past ``MAX_JSON_DEPTH`` is a 400 ``parse_error``, a NUL
    character a 400 ``invalid`` naming the field."""

    def parse(self, stream: Any, media_type: str | None = None, parser_context: dict | None = None) -> Any:
        raw = stream.read() if stream is not None else b""
        if json_too_deep(raw):
            raise ParseError(f"JSON parse error - nested more than {MAX_JSON_DEPTH} levels deep.")
        data = super().parse(io.BytesIO(raw), media_type, parser_context)
        problem = json_problem(data)
        if problem is not None:
            where, message = problem
            raise ValidationError({where: [message]} if where else [message])
        return data
