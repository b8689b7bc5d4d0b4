"""Subscriber-facing routes: one-click unsubscribe, preferences, archive."""

from __future__ import annotations

from starlette.routing import BaseRoute

from digest.config import Settings


def routes(settings: Settings) -> list[BaseRoute]:
    return []
