"""Writes for accounts, organizations, memberships, invitations and the audit log."""

from accounts.services.audit import audit_record
from accounts.services.invitations import (
    InvitationInvalid,
    invitation_accept,
    invitation_create,
    invitation_decline,
    invitation_from_token,
    invitation_resend,
    invitation_revoke,
    invitation_token,
)
from accounts.services.memberships import (
    membership_add,
    membership_change_role,
    membership_leave,
    membership_remove,
    ownership_transfer,
)
from accounts.services.organizations import (
    organization_create,
    organization_delete,
    organization_purge,
    organization_restore,
    organization_update,
)
from accounts.services.sessions import user_session_end, user_sessions_end
from accounts.services.users import user_delete, user_set_theme, user_signed_in, user_signed_up

__all__ = [
    "InvitationInvalid",
    "audit_record",
    "invitation_accept",
    "invitation_create",
    "invitation_decline",
    "invitation_from_token",
    "invitation_resend",
    "invitation_revoke",
    "invitation_token",
    "membership_add",
    "membership_change_role",
    "membership_leave",
    "membership_remove",
    "organization_create",
    "organization_delete",
    "organization_purge",
    "organization_restore",
    "organization_update",
    "ownership_transfer",
    "user_delete",
    "user_session_end",
    "user_sessions_end",
    "user_set_theme",
    "user_signed_in",
    "user_signed_up",
]
