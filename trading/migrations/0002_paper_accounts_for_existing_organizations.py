"""Every organization has a paper exchange account: give one to those created before trading existed."""

from django.db import migrations


def create_paper_accounts(apps, schema_editor):
    Organization = apps.get_model("accounts", "Organization")
    ExchangeAccount = apps.get_model("trading", "ExchangeAccount")
    have = set(ExchangeAccount.objects.filter(mode="paper", label="Paper").values_list("organization_id", flat=True))
    ExchangeAccount.objects.bulk_create(
        ExchangeAccount(organization_id=org_id, exchange_id="paper", label="Paper", mode="paper", status="ok")
        for org_id in Organization.objects.exclude(pk__in=have).values_list("pk", flat=True)
    )


class Migration(migrations.Migration):
    dependencies = [("trading", "0001_initial"), ("accounts", "0006_webhooks")]

    operations = [migrations.RunPython(create_paper_accounts, migrations.RunPython.noop)]
