"""The tenancy bases (ARCHITECTURE.md rule 2).

``TenantModel`` rows belong to one organization. Their default manager refuses to
evaluate a query that was not scoped with ``.for_org(org)`` (or that does not otherwise
pin ``organization`` to one value at its top level, as Django's related managers and
uniqueness checks do), so forgetting the organization is a loud error rather than a data
leak. ``all_objects`` is the escape
hatch for admin, migrations and system jobs. ``SharedModel`` marks data that belongs
to no tenant (candles, public news, the astro table). ``TenantOrPublicModel`` rows are either
public (no organization) or one organization's (corpora, their days and headlines): their default
manager answers only ``.visible_to(org)`` (public or own) and ``.for_org(org)`` (own), and raises
otherwise. The ``accounts.E002`` system check fails a model with an ``organization`` foreign key
that is neither kind.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar, Self

from django.db import models
from django.db.models import Q
from django.db.models.lookups import Exact
from django.db.models.sql.where import AND

if TYPE_CHECKING:
    from accounts.models import Organization


class UnscopedQueryError(RuntimeError):
    """A tenant-owned table was queried without naming the organization."""


class TenantQuerySet(models.QuerySet):
    """A queryset that must be scoped before it touches the database."""

    _is_scoped: bool = False

    def for_org(self, organization: Organization) -> Self:
        """Rows of ``organization`` only: the one way into a tenant table."""
        if organization is None or organization.pk is None:
            raise UnscopedQueryError(f"{self.model.__name__}.objects.for_org() needs a saved organization")
        return self._mark_scoped(self.filter(organization=organization))

    def _mark_scoped(self, queryset: Self) -> Self:
        queryset._is_scoped = True
        return queryset

    def _clone(self) -> Self:
        clone = super()._clone()
        clone._is_scoped = self._is_scoped
        return clone

    def _filters_on(self, field_name: str) -> bool:
        """True when the query's top-level conditions pin ``field_name`` to one value, as
        Django's own related managers and uniqueness checks do (``organization=<org>``)."""
        where = self.query.where
        if where.connector != AND or where.negated:
            return False
        return any(
            isinstance(child, Exact)
            and getattr(getattr(child.lhs, "target", None), "name", None) == field_name
            and getattr(child.lhs, "alias", None) == self.query.get_initial_alias()
            and child.rhs is not None
            for child in where.children
        )

    def _require_scope(self) -> None:
        if not self._is_scoped and not self._filters_on("organization"):
            raise UnscopedQueryError(
                f"{self.model.__name__} queried without an organization: use {self.model.__name__}.objects.for_org(org)"
            )

    def _fetch_all(self) -> None:
        if self._result_cache is None:
            self._require_scope()
        super()._fetch_all()

    def iterator(self, *args: Any, **kwargs: Any):
        self._require_scope()
        return super().iterator(*args, **kwargs)

    def count(self) -> int:
        if self._result_cache is None:
            self._require_scope()
        return super().count()

    def exists(self) -> bool:
        if self._result_cache is None:
            self._require_scope()
        return super().exists()

    def aggregate(self, *args: Any, **kwargs: Any) -> dict[str, Any]:
        self._require_scope()
        return super().aggregate(*args, **kwargs)

    def update(self, **kwargs: Any) -> int:
        self._require_scope()
        return super().update(**kwargs)

    def delete(self) -> tuple[int, dict[str, int]]:
        self._require_scope()
        return super().delete()


class TenantManager(models.Manager.from_queryset(TenantQuerySet)):  # type: ignore[misc]
    """Default manager of tenant models; every read goes through ``for_org``."""


class TenantModel(models.Model):
    """Base of every tenant-owned model."""

    organization = models.ForeignKey("accounts.Organization", on_delete=models.CASCADE, related_name="+")

    objects = TenantManager()
    all_objects = models.Manager()

    class Meta:
        abstract = True
        # Subclasses that declare their own Meta must inherit this one (``class Meta(TenantModel.Meta)``);
        # the ``accounts.E001`` system check fails any tenant model whose default manager is unscoped.
        default_manager_name = "objects"


class SharedModel(models.Model):
    """Base of data that belongs to no tenant: readable by everyone, written by system jobs."""

    class Meta:
        abstract = True


class TenantOrPublicQuerySet(TenantQuerySet):
    """Rows that are public or one organization's, reached through ``model.tenant_path`` (the
    organization foreign key, or the path to it). Like ``TenantQuerySet`` it refuses to run unless
    scoped, or unless its top-level conditions pin the first step of that path to one row, as
    Django's related managers do (``corpus.headlines.all()`` for a corpus already found visible)."""

    def visible_to(self, organization: Organization, *, public: bool = True) -> Self:
        """The organization's own rows, plus the public ones unless ``public`` is False."""
        self._require_saved(organization, "visible_to")
        path = self.model.tenant_path
        visible = Q(**{path: organization})
        if public:
            visible |= Q(**{f"{path}__isnull": True})
        return self._mark_scoped(self.filter(visible))

    def for_org(self, organization: Organization) -> Self:
        """The organization's own rows only (what it may change)."""
        self._require_saved(organization, "for_org")
        return self._mark_scoped(self.filter(**{self.model.tenant_path: organization}))

    def _require_saved(self, organization: Organization | None, method: str) -> None:
        if organization is None or organization.pk is None:
            raise UnscopedQueryError(f"{self.model.__name__}.objects.{method}() needs a saved organization")

    def _scope_field(self) -> str:
        return self.model.tenant_path.split("__", 1)[0]

    def _require_scope(self) -> None:
        if not self._is_scoped and not self._filters_on(self._scope_field()):
            raise UnscopedQueryError(
                f"{self.model.__name__} queried without an organization: "
                f"use {self.model.__name__}.objects.visible_to(org) (public or own) or .for_org(org) (own)"
            )


class TenantOrPublicManager(models.Manager.from_queryset(TenantOrPublicQuerySet)):  # type: ignore[misc]
    """Default manager of tenant-or-public models; reads go through ``visible_to`` or ``for_org``."""


class TenantOrPublicModel(models.Model):
    """Base of data that is either public or one organization's. Subclasses declare the
    ``organization`` foreign key (nullable: empty for public rows) or set ``tenant_path`` to the
    path to one (``"corpus__organization"``)."""

    tenant_path: ClassVar[str] = "organization"

    objects = TenantOrPublicManager()
    all_objects = models.Manager()

    class Meta:
        abstract = True
        default_manager_name = "objects"
