"""Serializer bases shared by every app's API."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

from rest_framework import serializers


def json_type_error(field: serializers.Field, value: Any) -> str | None:
    """Why a JSON ``value`` has the wrong type for ``field``, or None. DRF coerces (``0`` is
    ``false``, ``0`` is ``"0"``, ``"5"`` is ``5``); the schema promises JSON types, so do we."""
    if value is None:
        return None  # allow_null is the field's own rule
    if isinstance(field, serializers.BooleanField):
        return None if isinstance(value, bool) else "Must be true or false."
    if isinstance(field, serializers.ChoiceField) and field.choices:
        kinds = {type(choice) for choice in field.choices}
        if kinds == {int}:
            return None if isinstance(value, int) and not isinstance(value, bool) else "Must be a whole number."
        if kinds == {str}:
            return None if isinstance(value, str) else "Must be a string."
        return None
    if isinstance(field, serializers.CharField):
        return None if isinstance(value, str) else "Must be a string."
    if isinstance(field, serializers.IntegerField):
        return None if isinstance(value, int) and not isinstance(value, bool) else "Must be a whole number."
    if isinstance(field, serializers.FloatField):
        return None if isinstance(value, (int, float)) and not isinstance(value, bool) else "Must be a number."
    return None


class StrictSerializer(serializers.Serializer):
    """A request body: fields it does not declare are a 400, never silently ignored (a typo
    like ``require2fa`` must not answer 200 and change nothing), and so is a value of the wrong
    JSON type (``"require_2fa": 0``)."""

    # Query strings hold only strings: their serializers (StrictQuerySerializer) parse them.
    json_types: ClassVar[bool] = True

    def to_internal_value(self, data: Any) -> Any:
        if isinstance(data, Mapping):
            unknown = sorted(set(data) - set(self.fields))
            if unknown:
                raise serializers.ValidationError({name: ["Unknown field."] for name in unknown})
            wrong = {
                name: [message]
                for name, value in data.items()
                if self.json_types and (message := json_type_error(self.fields[name], value)) is not None
            }
            if wrong:  # with the other fields' errors too, so one answer names every problem
                others: dict = {}
                try:
                    super().to_internal_value({k: v for k, v in data.items() if k not in wrong})
                except serializers.ValidationError as error:
                    others = error.detail if isinstance(error.detail, dict) else {}
                raise serializers.ValidationError({**others, **wrong})
        return super().to_internal_value(data)


class StrictQuerySerializer(StrictSerializer):
    """A query string: unknown parameters are a 400; values arrive as strings and are parsed."""

    json_types = False
