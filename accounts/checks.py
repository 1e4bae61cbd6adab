"""System checks that keep the tenancy rules structural."""

from django.apps import apps
from django.core import checks

from accounts.tenancy import TenantModel, TenantQuerySet


@checks.register(checks.Tags.models)
def check_tenant_models_default_manager_is_scoped(app_configs=None, **kwargs) -> list[checks.CheckMessage]:
    errors = []
    for model in apps.get_models():
        if not issubclass(model, TenantModel):
            continue
        queryset_class = model._default_manager._queryset_class
        if not issubclass(queryset_class, TenantQuerySet):
            errors.append(
                checks.Error(
                    f"{model.__name__}'s default manager does not require an organization.",
                    hint="Inherit Meta from TenantModel.Meta and keep `objects` a TenantQuerySet manager.",
                    obj=model,
                    id="accounts.E001",
                )
            )
    return errors
