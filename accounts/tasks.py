"""Background jobs for accounts and organizations."""

from celery import shared_task

from accounts import selectors, services


@shared_task(name="accounts.tasks.organizations_purge_due")
def organizations_purge_due() -> int:
    """Purge organizations whose deletion grace period has ended (idempotent)."""
    return sum(
        services.organization_purge(organization_id=organization_id)
        for organization_id in selectors.organization_ids_due_for_purge()
    )
