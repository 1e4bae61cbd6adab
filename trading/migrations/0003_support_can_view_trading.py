"""Support staff may read exchange accounts (never their credentials: the admin excludes them),
paper accounts and the candle series and import reports."""

from django.contrib.auth.management import create_permissions
from django.db import migrations

SUPPORT_VIEW_MODELS = ["exchangeaccount", "candleseries", "candleimport", "paperaccount", "paperorder", "paperposition"]


def grant(apps, schema_editor):
    for app_config in apps.get_app_configs():
        app_config.models_module = True
        create_permissions(app_config, verbosity=0)
        app_config.models_module = None
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    group, _ = Group.objects.get_or_create(name="Support")
    group.permissions.add(
        *Permission.objects.filter(
            content_type__app_label="trading", codename__in=[f"view_{model}" for model in SUPPORT_VIEW_MODELS]
        )
    )


def revoke(apps, schema_editor):
    Permission = apps.get_model("auth", "Permission")
    group = apps.get_model("auth", "Group").objects.filter(name="Support").first()
    if group is not None:
        group.permissions.remove(
            *Permission.objects.filter(
                content_type__app_label="trading", codename__in=[f"view_{m}" for m in SUPPORT_VIEW_MODELS]
            )
        )


class Migration(migrations.Migration):
    dependencies = [("trading", "0002_paper_accounts_for_existing_organizations"), ("accounts", "0003_support_group")]

    operations = [migrations.RunPython(grant, revoke)]
