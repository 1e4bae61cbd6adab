"""Re-encrypt every stored secret (exchange credentials, webhook signing secrets) with the
newest key in FIELD_ENCRYPTION_KEYS.

Rotation: put a new Fernet key FIRST in FIELD_ENCRYPTION_KEYS (keep the old ones after it),
deploy, run this command, then drop the old keys.
"""

from django.core.management.base import BaseCommand

from accounts.webhooks.services import webhook_secrets_reencrypt
from trading.services.exchange_accounts import exchange_credentials_reencrypt


class Command(BaseCommand):
    help = "Re-encrypt every stored credential and signing secret with the newest encryption key."

    def handle(self, *args, **options) -> None:
        credentials = exchange_credentials_reencrypt()
        secrets = webhook_secrets_reencrypt()
        self.stdout.write(
            self.style.SUCCESS(
                f"Re-encrypted {credentials} exchange credential(s) and {secrets} webhook endpoint secret(s)."
            )
        )
