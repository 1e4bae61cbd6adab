from django.apps import AppConfig


class AccountsConfig(AppConfig):
    name = "accounts"
    verbose_name = "Accounts and organizations"

    def ready(self) -> None:
        from accounts import api_schema, checks, events, signals  # noqa: F401
        from accounts.services.events import organization_event_push, organization_event_record
        from accounts.webhooks.services import webhook_event_queue
        from asterweb.events import event_journal_register, event_subscribe

        event_journal_register(organization_event_record)
        event_subscribe(name="accounts.webhooks", handle=webhook_event_queue, in_transaction=True)
        event_subscribe(name="accounts.websocket", handle=organization_event_push)
