"""HTML forms for account and organization pages."""

from __future__ import annotations

from allauth.account import forms as allauth_forms
from allauth.core import context as allauth_context
from allauth.mfa.recovery_codes.forms import GenerateRecoveryCodesForm as GenerateRecoveryCodesFormBase
from allauth.mfa.totp.forms import DeactivateTOTPForm as DeactivateTOTPFormBase
from django import forms
from django.conf import settings

from accounts.invitation_session import pending_invitation_in_session
from accounts.models import Organization, Theme
from accounts.roles import Role
from accounts.services.api_keys import api_keys_active_count, api_keys_revoke_for_user
from asterweb.errors import ApplicationError


def form_add_application_error(form: forms.Form, error: ApplicationError) -> None:
    """Show a service's refusal on the form: per field where it names fields, else at the top."""
    placed = False
    for field, messages in error.fields.items():
        if field in form.fields:
            for message in messages:
                form.add_error(field, message)
            placed = True
    if not placed:
        form.add_error(None, error.detail)


class OrganizationCreateForm(forms.Form):
    name = forms.CharField(max_length=100)


class OrganizationSettingsForm(forms.Form):
    name = forms.CharField(max_length=100)
    require_2fa = forms.BooleanField(
        required=False,
        label=Organization._meta.get_field("require_2fa").verbose_name.capitalize(),
        help_text=Organization._meta.get_field("require_2fa").help_text,
    )


class InvitationForm(forms.Form):
    email = forms.EmailField()
    role = forms.ChoiceField(choices=Role.choices, initial=Role.VIEWER)


class RoleForm(forms.Form):
    role = forms.ChoiceField(choices=Role.choices)


class OwnershipTransferForm(forms.Form):
    member = forms.TypedChoiceField(coerce=int, label="New owner")

    def __init__(self, *args, candidates: list[tuple[int, str]], **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fields["member"].choices = candidates


class OrganizationDeleteForm(forms.Form):
    confirm = forms.CharField(label="Type the organization's address to confirm", max_length=50)


class AccountDeleteForm(forms.Form):
    confirm = forms.CharField(label="Type DELETE to confirm", max_length=10)

    def clean_confirm(self) -> str:
        value = self.cleaned_data["confirm"]
        if value != "DELETE":
            raise forms.ValidationError("Type DELETE in capitals to confirm.")
        return value


class AuditFilterForm(forms.Form):
    action = forms.CharField(required=False, max_length=64)
    actor = forms.CharField(required=False, max_length=254)
    since = forms.DateField(required=False, widget=forms.DateInput(attrs={"type": "date"}))
    until = forms.DateField(required=False, widget=forms.DateInput(attrs={"type": "date"}))

    def clean(self):
        data = super().clean()
        if data.get("since") and data.get("until") and data["since"] > data["until"]:
            raise forms.ValidationError("“From” must be on or before “to”.")
        return data


class ThemeForm(forms.Form):
    theme = forms.ChoiceField(choices=Theme.choices)


class SignupForm(allauth_forms.SignupForm):
    """allauth's sign-up form, plus: while sign-up is closed (``SIGNUP_OPEN=false``) only the
    address a valid pending invitation in this session was sent to may sign up."""

    def clean_email(self) -> str:
        email = super().clean_email()
        if settings.SIGNUP_OPEN or not email:
            return email
        invitation = pending_invitation_in_session(allauth_context.request)
        if invitation is None:
            raise forms.ValidationError("Sign-up is by invitation only: open the link in your invitation email.")
        if invitation.email.lower() != email.lower():
            raise forms.ValidationError(
                f"This invitation was sent to {invitation.email}: sign up with that address.", code="not_invited"
            )
        return email


REVOKE_API_KEYS_FIELD = "revoke_api_keys"


class RevokeApiKeysOffer:
    """Adds "also revoke all my API keys" to a form for ``self.user`` when they hold working keys:
    after a password or 2FA reset (perhaps after a compromise), keys would otherwise survive it."""

    fields: dict[str, forms.Field]
    cleaned_data: dict

    def add_revoke_api_keys_offer(self, user) -> None:
        count = api_keys_active_count(user=user) if user is not None and user.pk else 0
        if count:
            self.fields[REVOKE_API_KEYS_FIELD] = forms.BooleanField(
                required=False,
                label=f"Also revoke all my API keys ({count} active)",
                help_text="Do this if someone else may have had access to your account: "
                "programs using your keys stop working until you issue new ones.",
            )

    def revoke_api_keys_if_asked(self, user, *, reason: str) -> int:
        if self.cleaned_data.get(REVOKE_API_KEYS_FIELD):
            return api_keys_revoke_for_user(user=user, reason=reason)
        return 0


class ResetPasswordKeyForm(RevokeApiKeysOffer, allauth_forms.ResetPasswordKeyForm):
    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.add_revoke_api_keys_offer(self.user)

    def save(self) -> None:
        super().save()
        self.revoke_api_keys_if_asked(self.user, reason="password_reset")


class ChangePasswordForm(RevokeApiKeysOffer, allauth_forms.ChangePasswordForm):
    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.add_revoke_api_keys_offer(self.user)

    def save(self) -> None:
        super().save()
        self.revoke_api_keys_if_asked(self.user, reason="password_changed")


class DeactivateTOTPForm(RevokeApiKeysOffer, DeactivateTOTPFormBase):
    """Turning off the authenticator app (often: the phone is lost). The view has no save hook:
    accounts.signals revokes on ``authenticator_removed`` when the box was ticked."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.add_revoke_api_keys_offer(self.authenticator.user)


class GenerateRecoveryCodesForm(RevokeApiKeysOffer, GenerateRecoveryCodesFormBase):
    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.add_revoke_api_keys_offer(self.user)
