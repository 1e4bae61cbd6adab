"""Support staff see corpora (with coverage and indexing state), headlines and the astro
table; they change nothing here (their group has view permissions only)."""

from __future__ import annotations

from django.contrib import admin

from patterns.models import AstroDay, Corpus, Headline


class ReadOnlyFieldsAdmin(admin.ModelAdmin):
    def get_readonly_fields(self, request, obj=None):
        return [field.name for field in self.model._meta.fields]


class EveryOrganizationAdmin(ReadOnlyFieldsAdmin):
    """Support staff see public and every organization's rows (tenant code goes through visible_to)."""

    def get_queryset(self, request):
        return self.model.all_objects.all()


class EveryOrganizationCorpusFilter(admin.RelatedFieldListFilter):
    """The corpus filter's choices: public and every organization's corpora (the default manager
    refuses a query without an organization, as tenant code must)."""

    def field_choices(self, field, request, model_admin):
        ordering = self.field_admin_ordering(field, request, model_admin) or Corpus._meta.ordering
        return [(corpus.pk, str(corpus)) for corpus in Corpus.all_objects.order_by(*ordering)]


@admin.register(Corpus)
class CorpusAdmin(EveryOrganizationAdmin):
    list_display = [
        "name",
        "organization",
        "status",
        "day_count",
        "news_day_count",
        "market_day_count",
        "headline_count",
        "version",
        "indexed_at",
    ]
    list_filter = ["status"]
    search_fields = ["name", "slug", "organization__name", "organization__slug"]
    raw_id_fields = ["organization", "created_by"]

    def has_add_permission(self, request) -> bool:
        return False


@admin.register(Headline)
class HeadlineAdmin(EveryOrganizationAdmin):
    list_display = ["day", "text", "source", "corpus"]
    list_filter = [("corpus", EveryOrganizationCorpusFilter)]
    search_fields = ["text"]
    date_hierarchy = "day"
    exclude = ["vector"]
    raw_id_fields = ["corpus"]

    def get_readonly_fields(self, request, obj=None):
        return [name for name in super().get_readonly_fields(request, obj) if name != "vector"]

    def has_add_permission(self, request) -> bool:
        return False


@admin.register(AstroDay)
class AstroDayAdmin(ReadOnlyFieldsAdmin):
    list_display = ["day", "moon_phase", "retrograde"]
    date_hierarchy = "day"
    exclude = ["vector"]

    def get_readonly_fields(self, request, obj=None):
        return [name for name in super().get_readonly_fields(request, obj) if name != "vector"]

    def has_add_permission(self, request) -> bool:
        return False
