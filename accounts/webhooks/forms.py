"""HTML forms for the webhook pages."""

from __future__ import annotations

from django import forms

from accounts.webhooks.events import event_type_choices
from accounts.webhooks.models import WebhookDelivery
from accounts.webhooks.services import MAX_DESCRIPTION_LENGTH, MAX_URL_LENGTH


def _event_type_labels() -> list[tuple[str, str]]:
    return [(name, f"{name}: {description}") for name, description in event_type_choices()]


class WebhookEndpointForm(forms.Form):
    url = forms.CharField(
        label="Endpoint URL",
        max_length=MAX_URL_LENGTH,
        widget=forms.URLInput(attrs={"placeholder": "https://example.com/webhooks/asterai"}),
        help_text="An HTTPS URL on the public internet. Redirects are not followed.",
    )
    description = forms.CharField(max_length=MAX_DESCRIPTION_LENGTH, required=False)
    event_types = forms.MultipleChoiceField(
        label="Events to send",
        choices=_event_type_labels,
        required=False,
        widget=forms.CheckboxSelectMultiple,
        help_text="Leave all unticked to receive every event type, including ones added later.",
    )


class WebhookEndpointEditForm(WebhookEndpointForm):
    active = forms.BooleanField(
        required=False, label="Enabled", help_text="Disabled endpoints receive nothing; re-enabling clears failures."
    )


class DeliveryFilterForm(forms.Form):
    endpoint = forms.TypedChoiceField(coerce=int, required=False, empty_value=None)
    state = forms.ChoiceField(choices=[("", "Any state"), *WebhookDelivery.State.choices], required=False)

    def __init__(self, *args, endpoints: list[tuple[int, str]], **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fields["endpoint"].choices = [("", "All endpoints"), *endpoints]
