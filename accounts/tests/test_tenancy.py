import pytest
from django.core import checks
from django.db import connection
from django.db.models import Q

from accounts.models import AuditEvent, Invitation, Membership
from accounts.tenancy import UnscopedQueryError


@pytest.mark.django_db
def test_the_vector_extension_is_in_effect():
    with connection.cursor() as cursor:
        cursor.execute("SELECT extversion FROM pg_extension WHERE extname = 'vector'")
        assert cursor.fetchone() is not None
        cursor.execute("SELECT '[1,2,3]'::vector <-> '[1,2,5]'::vector")
        assert cursor.fetchone()[0] == pytest.approx(2.0)


@pytest.mark.django_db
@pytest.mark.parametrize("model", [Membership, Invitation, AuditEvent])
def test_an_unscoped_query_on_a_tenant_model_raises(team, model):
    with pytest.raises(UnscopedQueryError):
        list(model.objects.all())
    with pytest.raises(UnscopedQueryError):
        model.objects.filter(pk=1).first()
    with pytest.raises(UnscopedQueryError):
        model.objects.count()
    with pytest.raises(UnscopedQueryError):
        model.objects.exists()
    with pytest.raises(UnscopedQueryError):
        model.objects.filter(pk=1).update(pk=1)
    with pytest.raises(UnscopedQueryError):
        model.objects.filter(pk=-1).delete()


@pytest.mark.django_db
def test_a_scoped_query_sees_only_its_organization(team, other_team):
    mine = set(Membership.objects.for_org(team.org).values_list("user_id", flat=True))
    assert mine == {team.owner.pk, team.admin.pk, team.trader.pk, team.viewer.pk}
    assert Membership.objects.for_org(team.org).filter(user=other_team.owner).count() == 0


@pytest.mark.django_db
def test_scope_survives_chaining(team):
    queryset = Membership.objects.for_org(team.org).filter(role="owner").order_by("pk").select_related("user")
    assert [m.user for m in queryset] == [team.owner]


def test_scoping_needs_a_saved_organization():
    from accounts.models import Organization

    with pytest.raises(UnscopedQueryError):
        Membership.objects.for_org(Organization(name="unsaved", slug="unsaved"))


def test_every_tenant_model_has_a_scoped_default_manager():
    errors = [e for e in checks.run_checks() if e.id == "accounts.E001"]
    assert errors == []


@pytest.mark.django_db
def test_a_query_pinned_to_one_organization_counts_as_scoped(team, other_team):
    """Django's related managers and uniqueness checks filter ``organization=<org>`` themselves."""
    assert Membership.objects.filter(organization=team.org).count() == 4
    assert Membership.objects.filter(organization_id=team.org.pk, role="owner").get().user == team.owner


@pytest.mark.django_db
@pytest.mark.parametrize(
    "make_query",
    [
        lambda org: Membership.objects.exclude(organization=org),
        lambda org: Membership.objects.filter(Q(organization=org) | Q(role="owner")),
        lambda org: Membership.objects.filter(organization__in=[org]),
        lambda org: Membership.objects.filter(user__memberships__organization=org),
        lambda org: Membership.objects.filter(organization__slug=org.slug),
    ],
    ids=["negated", "or", "in", "through-a-join", "by-slug"],
)
def test_queries_that_do_not_pin_the_organization_still_raise(team, make_query):
    with pytest.raises(UnscopedQueryError):
        list(make_query(team.org))
