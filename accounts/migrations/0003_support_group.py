"""The Support group: staff who may search and read users, organizations, memberships,
invitations and the audit log, and change nothing."""

from django.contrib.auth.management import create_permissions
from django.db import migrations

SUPPORT_VIEW_MODELS = ["user", "organization", "membership", "invitation", "auditevent"]


def create_support_group(apps, schema_editor):
    for app_config in apps.get_app_configs():
        app_config.models_module = True
        create_permissions(app_config, verbosity=0)
        app_config.models_module = None
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    group, _ = Group.objects.get_or_create(name="Support")
    permissions = Permission.objects.filter(
        content_type__app_label="accounts", codename__in=[f"view_{model}" for model in SUPPORT_VIEW_MODELS]
    )
    group.permissions.set(permissions)


def delete_support_group(apps, schema_editor):
    apps.get_model("auth", "Group").objects.filter(name="Support").delete()


class Migration(migrations.Migration):
    dependencies = [("accounts", "0002_audit_append_only"), ("auth", "0012_alter_user_first_name_max_length")]

    operations = [migrations.RunPython(create_support_group, delete_support_group)]
