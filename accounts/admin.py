"""The admin site for support staff: search users and organizations, read memberships
and the audit log. The audit log is read-only for everyone, superusers included. Staff sign
in through allauth with a second factor (accounts.admin_login)."""

from __future__ import annotations

from typing import Any

from django.contrib import admin, messages
from django.contrib.auth.admin import UserAdmin as BaseUserAdmin
from django.db.models import QuerySet
from django.forms import ModelChoiceField
from django.forms.models import BaseInlineFormSet
from django.http import HttpRequest

from accounts import services
from accounts.admin_login import admin_site_secure
from accounts.events import organization_data
from accounts.models import AuditEvent, Invitation, Membership, Organization, User
from accounts.webhooks.models import WebhookDelivery, WebhookEndpoint
from asterweb.events import event_publish

admin.site.site_header = "AsterAI support"
admin.site.site_title = "AsterAI support"
admin_site_secure(admin.site)


class AllRowsInlineFormSet(BaseInlineFormSet):
    """Inline rows are looked up by primary key through the default (tenant) manager,
    which refuses unscoped queries; the admin is allowed to see every organization."""

    def add_fields(self, form, index) -> None:
        super().add_fields(form, index)
        pk_field = form.fields.get(self.model._meta.pk.name)
        if isinstance(pk_field, ModelChoiceField):
            pk_field.queryset = self.model.all_objects.all()


class MembershipInline(admin.TabularInline):
    model = Membership
    formset = AllRowsInlineFormSet
    fk_name = "organization"
    extra = 0
    fields = ["user", "role", "created_at"]
    readonly_fields = ["created_at"]
    raw_id_fields = ["user"]

    def get_queryset(self, request: HttpRequest) -> QuerySet[Membership]:
        return Membership.all_objects.select_related("user")


class UserMembershipInline(MembershipInline):
    fk_name = "user"
    fields = ["organization", "role", "created_at"]
    raw_id_fields = ["organization"]

    def get_queryset(self, request: HttpRequest) -> QuerySet[Membership]:
        return Membership.all_objects.select_related("organization")


@admin.register(User)
class UserAdmin(BaseUserAdmin):
    ordering = ["email"]
    list_display = ["email", "name", "is_active", "is_staff", "date_joined", "last_login"]
    list_filter = ["is_active", "is_staff", "is_superuser", "groups"]
    search_fields = ["email", "name"]
    readonly_fields = ["date_joined", "last_login"]
    inlines = [UserMembershipInline]
    fieldsets = [
        (None, {"fields": ["email", "password"]}),
        ("Profile", {"fields": ["name", "theme", "default_organization"]}),
        ("Permissions", {"fields": ["is_active", "is_staff", "is_superuser", "groups", "user_permissions"]}),
        ("Dates", {"fields": ["last_login", "date_joined"]}),
    ]
    add_fieldsets = [(None, {"classes": ["wide"], "fields": ["email", "password1", "password2"]})]
    raw_id_fields = ["default_organization"]


@admin.register(Organization)
class OrganizationAdmin(admin.ModelAdmin):
    list_display = ["name", "slug", "require_2fa", "created_at", "deleted_at", "purge_after"]
    list_filter = ["require_2fa", ("deleted_at", admin.EmptyFieldListFilter)]
    search_fields = ["name", "slug"]
    readonly_fields = ["created_at", "deleted_at", "purge_after"]
    inlines = [MembershipInline]
    actions = ["restore"]

    def save_model(self, request: HttpRequest, obj: Organization, form: Any, change: bool) -> None:
        super().save_model(request, obj, form, change)
        if not change:  # as organization_create: other apps set up what every organization has
            event_publish(organization=obj, type="organization.created", data=organization_data(obj))

    @admin.action(description="Restore organizations scheduled for deletion", permissions=["change"])
    def restore(self, request: HttpRequest, queryset: QuerySet[Organization]) -> None:
        restored = 0
        for organization in queryset.filter(deleted_at__isnull=False):
            services.organization_restore(organization=organization, actor=request.user)
            restored += 1
        self.message_user(request, f"Restored {restored} organization(s).", messages.SUCCESS)


@admin.register(Membership)
class MembershipAdmin(admin.ModelAdmin):
    list_display = ["user", "organization", "role", "created_at"]
    list_filter = ["role"]
    search_fields = ["user__email", "organization__name", "organization__slug"]
    raw_id_fields = ["user", "organization"]
    readonly_fields = ["created_at"]

    def get_queryset(self, request: HttpRequest) -> QuerySet[Membership]:
        return Membership.all_objects.select_related("user", "organization")


@admin.register(Invitation)
class InvitationAdmin(admin.ModelAdmin):
    list_display = ["email", "organization", "role", "status", "created_at", "expires_at"]
    list_filter = ["status", "role"]
    search_fields = ["email", "organization__name", "organization__slug"]
    readonly_fields = ["created_at", "responded_at"]
    exclude = ["nonce"]
    raw_id_fields = ["organization", "invited_by"]

    def get_queryset(self, request: HttpRequest) -> QuerySet[Invitation]:
        return Invitation.all_objects.select_related("organization")


@admin.register(AuditEvent)
class AuditEventAdmin(admin.ModelAdmin):
    list_display = ["created_at", "action", "actor_label", "organization_id", "target_label", "ip"]
    list_filter = ["action"]
    search_fields = ["action", "actor_label", "target_label", "ip"]
    date_hierarchy = "created_at"
    list_select_related = False

    def get_queryset(self, request: HttpRequest) -> QuerySet[AuditEvent]:
        return AuditEvent.all_objects.all()

    def get_readonly_fields(self, request, obj=None):
        return [field.name for field in self.model._meta.fields]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj=None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj=None) -> bool:
        return False


@admin.register(WebhookEndpoint)
class WebhookEndpointAdmin(admin.ModelAdmin):
    """Signing secrets are never shown, not even encrypted."""

    list_display = ["url", "organization", "active", "disabled_at", "created_at"]
    list_filter = ["active"]
    search_fields = ["url", "organization__name", "organization__slug"]
    exclude = ["secret_encrypted", "previous_secret_encrypted"]
    raw_id_fields = ["organization"]

    def get_queryset(self, request: HttpRequest) -> QuerySet[WebhookEndpoint]:
        return WebhookEndpoint.all_objects.select_related("organization")


@admin.register(WebhookDelivery)
class WebhookDeliveryAdmin(admin.ModelAdmin):
    list_display = ["created_at", "endpoint", "state", "attempts", "response_status", "next_attempt_at"]
    list_filter = ["state"]
    search_fields = ["endpoint__url", "organization__slug"]

    def get_queryset(self, request: HttpRequest) -> QuerySet[WebhookDelivery]:
        return WebhookDelivery.all_objects.select_related("endpoint")

    def get_readonly_fields(self, request, obj=None):
        return [field.name for field in self.model._meta.fields]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False
