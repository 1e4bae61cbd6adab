"""Support staff may read corpora (with their indexing state), headlines and the astro table."""

from django.contrib.auth.management import create_permissions
from django.db import migrations

SUPPORT_VIEW_MODELS = ["corpus", "headline", "astroday"]


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
            content_type__app_label="patterns", codename__in=[f"view_{model}" for model in SUPPORT_VIEW_MODELS]
        )
    )


def revoke(apps, schema_editor):
    Permission = apps.get_model("auth", "Permission")
    group = apps.get_model("auth", "Group").objects.filter(name="Support").first()
    if group is not None:
        group.permissions.remove(
            *Permission.objects.filter(
                content_type__app_label="patterns", codename__in=[f"view_{m}" for m in SUPPORT_VIEW_MODELS]
            )
        )


class Migration(migrations.Migration):
    dependencies = [("patterns", "0001_initial"), ("accounts", "0003_support_group")]

    operations = [migrations.RunPython(grant, revoke)]
