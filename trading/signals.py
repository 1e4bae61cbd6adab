"""Every organization gets its paper exchange account when it is created."""

from __future__ import annotations

from typing import Any

from django.db.models.signals import post_save
from django.dispatch import receiver

from accounts.models import Organization
from trading.services.exchange_accounts import exchange_account_ensure_paper


@receiver(post_save, sender=Organization, dispatch_uid="trading.paper_account_for_new_organization")
def create_paper_account(sender: Any, instance: Organization, created: bool, raw: bool = False, **kwargs: Any) -> None:
    if created and not raw:
        exchange_account_ensure_paper(organization=instance)
