"""Demo seeding (``manage.py seed_demo``) as a registry each app contributes to.

The command creates the demo organization and its users (this app's part), then runs every
registered seeder in ``order``. Apps register theirs in ``AppConfig.ready``, so accounts never
imports the apps above it. Seeders must be idempotent: the command runs on every ``make run``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from django.core.management.base import OutputWrapper
    from django.core.management.color import Style

    from accounts.models import Organization, User


@dataclass(frozen=True)
class DemoContext:
    """What a seeder gets: the demo organization, its owner, the shared data folder and the
    command's output (``stdout.write(style.WARNING(...))`` for what it had to skip)."""

    organization: Organization
    owner: User
    data_dir: Path
    stdout: OutputWrapper
    style: Style


@dataclass(frozen=True)
class DemoSeeder:
    name: str
    seed: Callable[[DemoContext], None]
    order: int


_SEEDERS: dict[str, DemoSeeder] = {}


def demo_seeder_register(*, name: str, seed: Callable[[DemoContext], None], order: int) -> None:
    """Add (or replace, by name) one app's part of the demo; lower ``order`` runs first."""
    _SEEDERS[name] = DemoSeeder(name=name, seed=seed, order=order)


def demo_seeders() -> list[DemoSeeder]:
    """The registered seeders in the order the command runs them."""
    return sorted(_SEEDERS.values(), key=lambda seeder: (seeder.order, seeder.name))
