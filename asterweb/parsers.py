"""The API's JSON parser: DRF's, plus the inputs that must be a 400, never a 500.

Deeply nested JSON would exhaust the recursion limit (parsing, validating or storing it),
and a NUL character cannot be stored in a PostgreSQL text or jsonb column: both are refused
here, for every API body, whichever fields (or dictionary keys) the view declares.
"""

from __future__ import annotations

from typing import Any

from rest_framework import parsers
from rest_framework.exceptions import ParseError, ValidationError

# Deeper than any body this API documents (a search's filters are three levels deep).
MAX_JSON_DEPTH = 32
NUL_MESSAGE = "Null characters are not allowed."  # DRF's own wording for its text fields


def json_problem(data: Any, *, max_depth: int = MAX_JSON_DEPTH) -> tuple[str, str] | None:
    """Why ``data`` (parsed JSON) is refused, as ``(where, message)``, or None. ``where`` is a
    dotted path (``filters.aspects.0``), empty for the whole body. Iterative: any depth is safe."""
    stack: list[tuple[Any, str, int]] = [(data, "", 1)]
    while stack:
        value, where, depth = stack.pop()
        if isinstance(value, str):
            if "\x00" in value:
                return where, NUL_MESSAGE
        elif isinstance(value, (dict, list)):
            if depth > max_depth:
                return "", f"The JSON is nested more than {max_depth} levels deep."
            items = value.items() if isinstance(value, dict) else enumerate(value)
            for key, item in items:
                path = f"{where}.{key}" if where else str(key)
                if isinstance(key, str) and "\x00" in key:
                    return path, NUL_MESSAGE
                stack.append((item, path, depth + 1))
    return None


class JSONParser(parsers.JSONParser):
    """DRF's JSON parser; too deep nesting is a 400 ``parse_error``, a NUL character a 400
    ``invalid`` naming the field."""

    def parse(self, stream: Any, media_type: str | None = None, parser_context: dict | None = None) -> Any:
        try:
            data = super().parse(stream, media_type, parser_context)
        except RecursionError:
            raise ParseError(f"JSON parse error - nested more than {MAX_JSON_DEPTH} levels deep.") from None
        problem = json_problem(data)
        if problem is not None:
            where, message = problem
            if not where:
                raise ParseError(f"JSON parse error - {message}")
            raise ValidationError({where: [message]})
        return data
