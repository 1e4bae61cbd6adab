"""``manage.py seed_demo``: the demo organization and users, then each app's registered part."""

from __future__ import annotations

import io

import pytest
from django.core.management import call_command
from django.test import override_settings

from accounts import demo
from accounts.models import Membership, Organization
from accounts.roles import Role

pytestmark = pytest.mark.django_db


def seed_demo(data_dir) -> str:
    out = io.StringIO()
    # An override hides SETTINGS_MODULE (None) unless it names it in the same layer.
    with override_settings(SHARED_DATA_DIR=data_dir, SETTINGS_MODULE="asterweb.settings.test"):
        call_command("seed_demo", stdout=out)
    return out.getvalue()


def test_trading_and_patterns_register_their_part_market_data_first():
    assert [seeder.name for seeder in demo.demo_seeders()] == ["trading.market_data", "patterns.public_corpora"]


def test_seed_demo_runs_every_registered_part_in_order_and_twice_changes_nothing(monkeypatch, settings, tmp_path):
    monkeypatch.setattr(demo, "_SEEDERS", {})
    calls = []

    def recorder(name):
        return lambda context: calls.append((name, context.organization))

    demo.demo_seeder_register(name="late", seed=recorder("late"), order=20)
    demo.demo_seeder_register(name="early", seed=recorder("early"), order=10)

    seed_demo(tmp_path)
    seed_demo(tmp_path)

    organization = Organization.objects.get(slug="demo")
    assert calls == [("early", organization), ("late", organization)] * 2
    roles = sorted(Membership.objects.for_org(organization).values_list("user__email", "role"))
    assert roles == [("analyst@asterai.local", Role.TRADER), (settings.DEMO_EMAIL, Role.OWNER)]


def test_seed_demo_without_the_data_folder_says_so(tmp_path):
    out = seed_demo(tmp_path / "absent")
    assert f"No market data: {tmp_path / 'absent'} is absent" in out
    assert "Demo organization /o/demo/ ready" in out
