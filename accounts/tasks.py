"""Background jobs for accounts and organizations."""

from celery import shared_task

from accounts import selectors, services
from accounts.idempotency import idempotency_records_purge as purge_idempotency_records


@shared_task(name="accounts.tasks.organizations_purge_due")
def organizations_purge_due() -> int:
    """Purge organizations whose deletion grace period has ended (idempotent)."""
    return sum(
        services.organization_purge(organization_id=organization_id)
        for organization_id in selectors.organization_ids_due_for_purge()
    )


@shared_task(name="accounts.tasks.idempotency_records_purge")
def idempotency_records_purge() -> int:
    """Forget idempotent responses older than their 24-hour lifetime."""
    return purge_idempotency_records()
