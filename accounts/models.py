"""Users, organizations (the tenants), memberships, invitations and the audit log."""

from __future__ import annotations

import secrets
from datetime import timedelta
from typing import Self

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser, BaseUserManager, PermissionsMixin
from django.contrib.postgres.fields import ArrayField
from django.core.serializers.json import DjangoJSONEncoder
from django.db import models
from django.db.models.functions import Lower
from django.utils import timezone

from accounts.roles import Role
from accounts.tenancy import TenantModel, TenantQuerySet


class UserManager(BaseUserManager["User"]):
    use_in_migrations = True

    def create_user(self, email: str, password: str | None = None, **fields) -> User:
        if not email:
            raise ValueError("An email address is required")
        user = self.model(email=self.normalize_email(email).lower(), **fields)
        user.set_password(password)
        user.save(using=self._db)
        return user

    def create_superuser(self, email: str, password: str | None = None, **fields) -> User:
        fields.update(is_staff=True, is_superuser=True)
        return self.create_user(email, password, **fields)


class Theme(models.TextChoices):
    SYSTEM = "system", "System"
    LIGHT = "light", "Light"
    DARK = "dark", "Dark"


class User(AbstractBaseUser, PermissionsMixin):
    """A person. Identified by email; no username."""

    email = models.EmailField("email address", unique=True)
    name = models.CharField(max_length=150, blank=True)
    theme = models.CharField(max_length=10, choices=Theme.choices, default=Theme.SYSTEM)
    default_organization = models.ForeignKey(
        "accounts.Organization", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    is_staff = models.BooleanField(default=False, help_text="Can log into the admin site (support staff).")
    is_active = models.BooleanField(default=True)
    date_joined = models.DateTimeField(default=timezone.now)

    objects = UserManager()

    USERNAME_FIELD = "email"
    EMAIL_FIELD = "email"
    REQUIRED_FIELDS: list[str] = []

    class Meta:
        constraints = [models.UniqueConstraint(Lower("email"), name="accounts_user_email_ci_unique")]

    def __str__(self) -> str:
        return self.email

    @property
    def display_name(self) -> str:
        return self.name or self.email


class OrganizationQuerySet(models.QuerySet):
    def active(self) -> Self:
        """Organizations not scheduled for deletion."""
        return self.filter(deleted_at__isnull=True)


class Organization(models.Model):
    """The tenant. Deleting one is soft for a grace period, then a purge job removes it."""

    name = models.CharField(max_length=100)
    slug = models.SlugField(max_length=50, unique=True)
    require_2fa = models.BooleanField(
        "require two-factor authentication",
        default=False,
        help_text="Members must sign in with two-factor authentication to open this organization, "
        "and only API keys created from such a sign-in work here.",
    )
    created_at = models.DateTimeField(default=timezone.now)
    deleted_at = models.DateTimeField(null=True, blank=True)
    purge_after = models.DateTimeField(null=True, blank=True)

    objects = OrganizationQuerySet.as_manager()

    def __str__(self) -> str:
        return self.name

    @property
    def is_deleted(self) -> bool:
        return self.deleted_at is not None


class MembershipQuerySet(TenantQuerySet):
    def for_user(self, user: User) -> Self:
        """The memberships of one user across organizations (their own view of the tenancy)."""
        return self._mark_scoped(self.filter(user=user))


class Membership(TenantModel):
    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="memberships")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="memberships")
    role = models.CharField(max_length=10, choices=Role.choices, default=Role.VIEWER)
    created_at = models.DateTimeField(default=timezone.now)

    objects = MembershipQuerySet.as_manager()

    class Meta(TenantModel.Meta):
        constraints = [models.UniqueConstraint(fields=["organization", "user"], name="membership_unique_user")]

    def __str__(self) -> str:
        return f"{self.user} in {self.organization} ({self.role})"


def new_invitation_nonce() -> str:
    return secrets.token_urlsafe(16)


def _invitation_expiry() -> timezone.datetime:
    return timezone.now() + timedelta(days=settings.INVITATION_TTL_DAYS)


class InvitationQuerySet(TenantQuerySet):
    def for_token_payload(self, *, pk: int, nonce: str) -> Self:
        """The invitation a verified signed token names: the token is the capability."""
        return self._mark_scoped(self.filter(pk=pk, nonce=nonce))


class Invitation(TenantModel):
    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        ACCEPTED = "accepted", "Accepted"
        DECLINED = "declined", "Declined"
        REVOKED = "revoked", "Revoked"

    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="invitations")
    email = models.EmailField()
    role = models.CharField(max_length=10, choices=Role.choices, default=Role.VIEWER)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    # Part of the signed token; changing it (on resend) invalidates earlier links.
    nonce = models.CharField(max_length=32, default=new_invitation_nonce)
    invited_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(default=timezone.now)
    expires_at = models.DateTimeField(default=_invitation_expiry)
    responded_at = models.DateTimeField(null=True, blank=True)

    objects = InvitationQuerySet.as_manager()

    class Meta(TenantModel.Meta):
        constraints = [
            models.UniqueConstraint(
                "organization",
                Lower("email"),
                condition=models.Q(status="pending"),
                name="invitation_one_pending_per_email",
            )
        ]

    def __str__(self) -> str:
        return f"{self.email} to {self.organization} ({self.status})"

    @property
    def is_expired(self) -> bool:
        return timezone.now() >= self.expires_at


class AuditEventQuerySet(TenantQuerySet):
    def for_user_history(self, user: User) -> Self:
        """Events a user caused or that targeted their account, across organizations
        (their own security history: sign-ins, failed sign-ins, 2FA changes)."""
        about_user = models.Q(target_type="accounts.user", target_id=str(user.pk))
        return self._mark_scoped(self.filter(models.Q(actor_user=user) | about_user))


class AuditEvent(TenantModel):
    """One sensitive action. Append-only: a database trigger rejects UPDATE and DELETE.

    The foreign keys carry no database constraint and never cascade, so deleting a
    user or an organization leaves its history in place.
    """

    organization = models.ForeignKey(
        Organization, null=True, blank=True, on_delete=models.DO_NOTHING, db_constraint=False, related_name="+"
    )
    actor_user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.DO_NOTHING,
        db_constraint=False,
        related_name="+",
    )
    actor_api_key_id = models.BigIntegerField(null=True, blank=True)
    actor_label = models.CharField(max_length=254, blank=True, help_text="Who acted, as known at the time.")
    action = models.CharField(max_length=64)
    target_type = models.CharField(max_length=64, blank=True)
    target_id = models.CharField(max_length=64, blank=True)
    target_label = models.CharField(max_length=254, blank=True)
    ip = models.GenericIPAddressField(null=True, blank=True)
    user_agent = models.CharField(max_length=512, blank=True)
    by_support = models.BooleanField(
        default=False,
        help_text="Support staff acted in an organization they do not belong to: the organization's "
        "members do not see the IP address and user agent.",
    )
    created_at = models.DateTimeField(default=timezone.now)
    details = models.JSONField(default=dict, blank=True, encoder=DjangoJSONEncoder)

    objects = AuditEventQuerySet.as_manager()

    class Meta(TenantModel.Meta):
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["organization", "-created_at"], name="audit_org_time"),
            models.Index(fields=["actor_user", "-created_at"], name="audit_actor_time"),
            models.Index(fields=["action"], name="audit_action"),
        ]

    def __str__(self) -> str:
        return f"{self.created_at:%Y-%m-%d %H:%M:%S} {self.action} by {self.actor_label or 'system'}"

    @property
    def ip_for_tenant(self) -> str | None:
        """The IP address as the organization's own audit log shows it (support staff's: hidden)."""
        return None if self.by_support else self.ip

    @property
    def user_agent_for_tenant(self) -> str:
        return "" if self.by_support else self.user_agent


EVENT_ID_PREFIX = "evt_"


def new_event_id() -> str:
    return EVENT_ID_PREFIX + secrets.token_hex(12)


class OrganizationEvent(TenantModel):
    """The journal of the events bus (asterweb/events.py): every event published in an
    organization, numbered 1, 2, 3... without gaps, so a client that missed some can catch up."""

    id = models.CharField(primary_key=True, max_length=32, default=new_event_id, editable=False)
    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="+")
    sequence = models.PositiveBigIntegerField()
    type = models.CharField(max_length=64)
    data = models.JSONField(default=dict, encoder=DjangoJSONEncoder)
    min_role = models.CharField(max_length=10, choices=Role.choices, help_text="The lowest role that sees it.")
    created_at = models.DateTimeField(default=timezone.now)

    class Meta(TenantModel.Meta):
        constraints = [
            models.UniqueConstraint(fields=["organization", "sequence"], name="organization_event_sequence"),
        ]
        indexes = [models.Index(fields=["created_at"], name="organization_event_time")]

    def __str__(self) -> str:
        return f"#{self.sequence} {self.type}"


class OrganizationEventCounter(TenantModel):
    """The organization's last event sequence number. Publishing increments it in its own
    transaction, which holds the row until it commits: numbers are given in commit order, and a
    rollback gives its number back."""

    organization = models.OneToOneField(Organization, on_delete=models.CASCADE, primary_key=True, related_name="+")
    last_sequence = models.PositiveBigIntegerField(default=0)

    class Meta(TenantModel.Meta):
        pass


class Scope(models.TextChoices):
    """What an API key may do. A key's effective scopes are also limited by its owner's role."""

    READ = "read", "Read"
    TRADE = "trade", "Trade"
    ADMIN = "admin", "Admin"


class ApiKeyQuerySet(TenantQuerySet):
    def for_prefix(self, prefix: str) -> Self:
        """The key a presented credential names (authentication happens before the organization is known)."""
        return self._mark_scoped(self.filter(prefix=prefix))

    def for_user(self, user: User) -> Self:
        """One user's keys across organizations (revoking them all after a password reset)."""
        return self._mark_scoped(self.filter(user=user))


class ApiKey(TenantModel):
    """A per-user credential for one organization. Only a keyed hash of the secret is stored;
    the full key is shown once. During a rotation grace period the previous secret still works."""

    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="api_keys")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="api_keys")
    name = models.CharField(max_length=100)
    prefix = models.CharField(max_length=32, unique=True, help_text="The visible start of the key, used to find it.")
    secret_hash = models.CharField(max_length=64)
    previous_secret_hash = models.CharField(max_length=64, blank=True)
    previous_secret_valid_until = models.DateTimeField(null=True, blank=True)
    scopes = ArrayField(models.CharField(max_length=10, choices=Scope.choices), default=list)
    allowed_cidrs = ArrayField(models.CharField(max_length=64), default=list, blank=True)
    expires_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    rotated_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)
    last_used_at = models.DateTimeField(null=True, blank=True)
    last_used_ip = models.GenericIPAddressField(null=True, blank=True)
    created_with_second_factor = models.BooleanField(
        default=False,
        help_text="Created from a session that passed a second factor (or by such a key): "
        "only these keys work in organizations that require 2FA.",
    )
    created_by_key = models.ForeignKey(
        "self",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        help_text="The key whose request created this one: it never outlives or out-reaches it.",
    )

    objects = ApiKeyQuerySet.as_manager()

    class Meta(TenantModel.Meta):
        indexes = [models.Index(fields=["organization", "user"], name="apikey_org_user")]

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…)"

    @property
    def is_active(self) -> bool:
        return self.revoked_at is None and (self.expires_at is None or self.expires_at > timezone.now())


class IdempotencyRecord(TenantModel):
    """The stored first response to a POST sent with an ``Idempotency-Key``, per organization
    and credential, kept for 24 hours (as Stripe does)."""

    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="+")
    credential = models.CharField(max_length=40, help_text="key:<id> or user:<id>")
    key = models.CharField(max_length=255)
    request_fingerprint = models.CharField(max_length=64)
    response_status = models.PositiveSmallIntegerField()
    response_body = models.JSONField(null=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta(TenantModel.Meta):
        constraints = [
            models.UniqueConstraint(fields=["organization", "credential", "key"], name="idempotency_unique_key")
        ]
        indexes = [models.Index(fields=["created_at"], name="idempotency_created")]


from accounts.webhooks.models import WebhookDelivery, WebhookEndpoint, WebhookEvent  # noqa: E402,F401
