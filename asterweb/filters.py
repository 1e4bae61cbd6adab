"""django-filter for the API, with typed query parameters refusing values of the wrong type.

django-filter skips a filter whose value it cannot use: ``active=null`` or ``until=`` answer
as if the parameter were absent, so a typo silently returns everything. Here they are a 400."""

from __future__ import annotations

from typing import Any

from django_filters import rest_framework as filters
from rest_framework.exceptions import ValidationError


class StrictFilterBackend(filters.DjangoFilterBackend):
    def get_filterset(self, request: Any, queryset: Any, view: Any) -> Any:
        filterset = super().get_filterset(request, queryset, view)
        if filterset is None:
            return None
        errors = {}
        for name, declared in filterset.filters.items():
            if name not in request.query_params:
                continue
            value = request.query_params[name]
            if isinstance(declared, filters.BooleanFilter):
                if value not in ("true", "false"):
                    errors[name] = ["Must be true or false."]
            elif value == "" and not isinstance(declared, filters.CharFilter):
                errors[name] = ["Give a value, or leave the parameter out."]
        if errors:
            raise ValidationError(errors)
        return filterset
