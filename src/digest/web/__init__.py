"""The Starlette app behind `digest serve`: the editor's preview and the subscriber routes.

Each part contributes its routes from its own module (`preview`, `public`);
`create_app` assembles them.
"""

from __future__ import annotations

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import BaseRoute, Route

from digest.config import Settings
from digest.web import preview, public


async def _health(_request: Request) -> PlainTextResponse:
    return PlainTextResponse("ok")


def create_app(settings: Settings, *, public_mode: bool = False) -> Starlette:
    """Build the app. With `public_mode` the preview routes need the editor password."""
    routes: list[BaseRoute] = [Route("/healthz", _health)]
    routes += public.routes(settings)
    routes += preview.routes(settings, public_mode=public_mode)
    app = Starlette(routes=routes)
    app.state.settings = settings
    app.state.public_mode = public_mode
    return app
