"""System checks that keep the tenancy rules structural and the client-IP policy configured."""

import ipaddress

from django.apps import apps
from django.conf import settings
from django.core import checks

from accounts.tenancy import TenantModel, TenantOrPublicModel, TenantOrPublicQuerySet, TenantQuerySet


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


@checks.register(checks.Tags.models)
def check_models_with_an_organization_are_tenant_or_public(app_configs=None, **kwargs) -> list[checks.CheckMessage]:
    """Rows that name an organization are tenant data: their base must scope every query."""
    errors = []
    for model in apps.get_models():
        field = next((f for f in model._meta.get_fields() if f.name == "organization"), None)
        if field is None or not field.is_relation or field.related_model is None:
            continue
        if field.related_model._meta.label != "accounts.Organization" or not (field.many_to_one or field.one_to_one):
            continue
        if issubclass(model, TenantModel | TenantOrPublicModel):
            if issubclass(model, TenantOrPublicModel) and not issubclass(
                model._default_manager._queryset_class, TenantOrPublicQuerySet
            ):
                errors.append(_unscoped_default_manager(model, "TenantOrPublicModel", "accounts.E003"))
            continue
        errors.append(
            checks.Error(
                f"{model.__name__} has an organization foreign key but is neither a TenantModel nor a "
                "TenantOrPublicModel, so nothing stops a query from reading every organization's rows.",
                hint="Subclass accounts.tenancy.TenantModel (one organization's rows) or TenantOrPublicModel "
                "(public or one organization's).",
                obj=model,
                id="accounts.E002",
            )
        )
    return errors


def _unscoped_default_manager(model, base: str, check_id: str) -> checks.Error:
    return checks.Error(
        f"{model.__name__}'s default manager does not require an organization.",
        hint=f"Inherit Meta from {base}.Meta and keep `objects` its scoped manager.",
        obj=model,
        id=check_id,
    )


@checks.register(checks.Tags.security)
def check_trusted_proxies_are_networks(app_configs=None, **kwargs) -> list[checks.CheckMessage]:
    errors = []
    for cidr in settings.TRUSTED_PROXIES:
        try:
            ipaddress.ip_network(cidr, strict=False)
        except ValueError:
            errors.append(
                checks.Error(
                    f"TRUSTED_PROXIES holds “{cidr}”, which is not an IP address or CIDR range.",
                    hint="List the reverse proxies' addresses, e.g. TRUSTED_PROXIES=172.30.42.10/32.",
                    id="accounts.E004",
                )
            )
    return errors


@checks.register(checks.Tags.security, deploy=True)
def check_trusted_proxies_set_in_production(app_configs=None, **kwargs) -> list[checks.CheckMessage]:
    """Behind a reverse proxy with no TRUSTED_PROXIES, every request seems to come from the proxy:
    IP allow-lists, per-IP rate limits, audit IPs and new-sign-in notices all see one address."""
    if settings.TRUSTED_PROXIES:
        return []
    return [
        checks.Warning(
            "TRUSTED_PROXIES is empty: behind a reverse proxy, API-key IP allow-lists, per-IP rate limits, "
            "audit IPs and new-sign-in notices all see the proxy's address.",
            hint="Set TRUSTED_PROXIES to the reverse proxy's address(es). Silence accounts.W001 only if "
            "clients reach the application directly.",
            id="accounts.W001",
        )
    ]
