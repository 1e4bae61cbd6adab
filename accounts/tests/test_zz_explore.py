import pytest
from django.urls import reverse
from django.contrib.messages import get_messages

@pytest.mark.django_db
def test_explore(team, client_for):
    c = client_for(team.admin)
    r = c.post(reverse("org_settings", args=[team.org.slug]), {"name": team.org.name, "require_2fa": "on"})
    print(r.status_code, r.get("Location"), [str(m) for m in get_messages(r.wsgi_request)])
    team.org.refresh_from_db(); print(team.org.require_2fa)
