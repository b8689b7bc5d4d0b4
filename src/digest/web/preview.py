"""The editor's preview: lists, editions, views, checks, live reload, send test."""

from __future__ import annotations

from starlette.routing import BaseRoute

from digest.config import Settings


def routes(settings: Settings, *, public_mode: bool) -> list[BaseRoute]:
    return []
