"""The Starlette app behind `digest serve`: the editor's preview and the subscriber routes.

Each part contributes its routes from its own module; `create_app` assembles them.
"""

from __future__ import annotations

from starlette.applications import Starlette
from starlette.responses import PlainTextResponse
from starlette.routing import Route

from digest.config import Settings


async def _health(_request: object) -> PlainTextResponse:
    return PlainTextResponse("ok")


def create_app(settings: Settings, *, public: bool = False) -> Starlette:
    """Build the app. `public` exposes only the subscriber routes (see `digest serve`)."""
    routes = [Route("/healthz", _health)]
    app = Starlette(routes=routes)
    app.state.settings = settings
    app.state.public = public
    return app
