"""`digest serve`: the preview server for editors and the public subscriber endpoints."""

from __future__ import annotations

import click

from digest.cli.base import cli, err, handle_errors, settings_of
from digest.errors import DigestError


@cli.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to bind.")
@click.option("--port", default=8000, show_default=True, type=int, help="Port to bind.")
@click.option("--public", "public_mode", is_flag=True, help="Expose subscriber routes publicly.")
@click.pass_context
@handle_errors
def serve(ctx: click.Context, host: str, port: int, public_mode: bool) -> None:
    """Run the web server: edition previews for editors, and subscriber pages.

    \b
    Example:
      digest serve --port 8000   # then open http://127.0.0.1:8000/
    """
    import uvicorn

    from digest.web import create_app

    if not public_mode and host not in ("127.0.0.1", "localhost", "::1"):
        raise DigestError(
            f"refusing to serve the preview on {host} without --public",
            hint="previews stay on loopback; add --public (and set an editor password)",
        )
    app = create_app(settings_of(ctx), public_mode=public_mode)
    err.print(f"serving on http://{host}:{port}/ (Ctrl-C stops)")
    uvicorn.run(app, host=host, port=port, log_level="warning")
