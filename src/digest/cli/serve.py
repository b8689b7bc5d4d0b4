"""`digest serve`: the preview server for editors and the public subscriber endpoints."""

from __future__ import annotations

import socket

import click

from digest.cli.base import cli, clock_of, err, handle_errors, settings_of
from digest.errors import DigestError
from digest.secret import load_secret


@cli.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to bind.")
@click.option("--port", default=8000, show_default=True, type=int, help="Port to bind.")
@click.option("--public", "public_mode", is_flag=True, help="Expose subscriber routes publicly.")
@click.pass_context
@handle_errors
def serve(ctx: click.Context, host: str, port: int, public_mode: bool) -> None:
    """Run the web server: edition previews for editors, and subscriber pages.

    Without --public the server is for this machine: previews, and the subscriber pages
    for trying them. With --public the subscriber pages (/u/, /p/, /archive/) are open
    and every preview page asks for DIGEST_EDITOR_PASSWORD; the provider webhooks
    (/webhooks/mailgun, postmark, sendgrid, ses) are served for each one whose setting
    is set (DIGEST_MAILGUN_SIGNING_KEY, ...). Behind a reverse proxy, keep
    --host 127.0.0.1 and let the proxy pass X-Forwarded-For (trusted from 127.0.0.1;
    uvicorn's FORWARDED_ALLOW_IPS changes that), so rate limits see real clients.

    \b
    Examples:
      digest serve --port 8000   # then open http://127.0.0.1:8000/
      DIGEST_EDITOR_PASSWORD=... DIGEST_BASE_URL=https://news.example.com \\
        digest serve --public --port 8000
    """
    import uvicorn

    from digest.web import create_app

    settings = settings_of(ctx)
    if not public_mode and host not in ("127.0.0.1", "localhost", "::1"):
        raise DigestError(
            f"refusing to serve the preview on {host} without --public",
            hint="previews stay on loopback; add --public (and set an editor password)",
        )
    if public_mode and len(settings.editor_password) < 12:
        raise DigestError(
            "--public needs an editor password of at least 12 characters",
            hint="set DIGEST_EDITOR_PASSWORD (it guards the preview pages)",
        )
    from digest import pipeline

    pipeline.open_store(settings).close()  # a wrong --db fails here, not on every page
    if public_mode:
        load_secret(settings.secret_file, create=False)  # links cannot be checked without it
    sock = _listen(host, port)
    port = sock.getsockname()[1]  # the real one when --port 0 let the system choose
    app = create_app(settings, public_mode=public_mode, clock=clock_of(ctx), port=port)
    shown = f"[{host}]" if ":" in host else host
    err.print(f"serving on http://{shown}:{port}/ (Ctrl-C stops)", markup=False)
    from digest.web.webhooks import configured

    hooks = configured(settings)
    if hooks and public_mode:
        paths = ", ".join(f"/webhooks/{name}" for name in hooks)
        err.print(f"provider webhooks: {paths}", markup=False)
    elif hooks:
        err.print(
            f"warning: webhook settings for {', '.join(hooks)} are ignored without --public",
            markup=False,
        )
    config = uvicorn.Config(app, log_level="warning", proxy_headers=True)
    uvicorn.Server(config).run(sockets=[sock])


def _listen(host: str, port: int) -> socket.socket:
    """A socket bound before the app starts, so the address printed is the real one."""
    try:
        family, *_, address = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0]
        sock = socket.socket(family, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(address)
    except OSError as exc:
        raise DigestError(
            f"cannot listen on {host}:{port}: {exc.strerror or exc}",
            hint="pick another --port (--port 0 lets the system choose a free one)",
        ) from None
    sock.listen(128)
    sock.set_inheritable(True)
    return sock
