"""The editor's preview: lists, editions, views, checks, live reload, send test.

Every page renders the edition the way a send would (proof.preview_as), so what the
editor sees is what lands in an inbox. Pages poll `/preview/_version`, a fingerprint of
the template folders and the database files, and reload themselves (keeping the scroll
position) when it changes. A template error is shown in the page, which keeps polling,
so fixing the file brings the preview back.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import html
from collections.abc import Callable, Iterable
from datetime import date, datetime
from pathlib import Path
from urllib.parse import quote, urlencode, urlsplit

from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData, QueryParams
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from digest import approval, issue, pipeline, proof
from digest.config import Settings
from digest.errors import DigestError, InputError, NotFoundError, TemplateError
from digest.models import Subscriber
from digest.render import default_templates_dir
from digest.render.checks import Check
from digest.render.language import parse_locale
from digest.secret import load_secret
from digest.web import desk
from digest.web.guard import read_form

VIEWS = {
    "side": "Desktop + mobile",
    "desktop": "Desktop (600 px)",
    "mobile": "Mobile (375 px)",
    "dark": "Dark mode",
    "html": "HTML",
    "text": "Text part",
    "mjml": "MJML",
    "raw": "Raw message",
}
FRAME_WIDTHS = {"desktop": 600, "mobile": 375, "dark": 600}
LANGUAGES = ("en", "fr", "ar")
POLL_MS = 600
FIND_LIMIT = 10  # matches a "preview as" search shows
SEND_TEST_MAX_BODY = 4 * 1024  # three short fields; anything bigger is refused (413)
DESK_MAX_BODY = 64 * 1024  # the edit form: a note (5,000 characters) and a few hundred URLs
STATES_SHOWN = 7  # editions per list whose state the index shows (the newest ones)


def routes(
    settings: Settings, *, public_mode: bool, now: Callable[[], datetime]
) -> list[BaseRoute]:
    """The preview routes. `public_mode` is for the editor password (not handled here yet)."""
    preview = _Preview(settings, now)
    return [
        Route("/", preview.index),
        Route("/preview/", preview.index),
        Route("/preview/_version", preview.version),
        Route("/preview/bounces", preview.bounces),
        Route("/preview/{slug}/{day}", preview.edition),
        Route("/preview/{slug}/{day}/email.html", preview.email_html),
        Route("/preview/{slug}/{day}/send-test", preview.send_test, methods=["POST"]),
        Route("/preview/{slug}/{day}/edit", preview.edit, methods=["POST"]),
        Route("/preview/{slug}/{day}/approve", preview.approve, methods=["POST"]),
    ]


def content_version(settings: Settings) -> str:
    """Changes whenever a template, a catalogue or the database (or its WAL) changes."""
    stamp = hashlib.sha256()
    folders = [default_templates_dir(), *([settings.templates] if settings.templates else [])]
    files: list[Path] = []
    for folder in folders:
        if folder.is_dir():
            files += sorted(p for p in folder.rglob("*") if p.is_file())
    files += [settings.db, settings.db.with_name(settings.db.name + "-wal")]
    for path in files:
        try:
            info = path.stat()
        except OSError:
            continue
        if info.st_size == 0 and path.name.endswith("-wal"):
            continue  # every reader creates an empty WAL, and the last one out deletes it
        stamp.update(f"{path}\0{info.st_mtime_ns}\0{info.st_size}\n".encode())
    return stamp.hexdigest()[:16]


class _Preview:
    def __init__(self, settings: Settings, now: Callable[[], datetime]) -> None:
        self.settings = settings
        self._now = now

    # -- routes --------------------------------------------------------------------------

    def version(self, request: Request) -> JSONResponse:
        return JSONResponse(
            {"version": content_version(self.settings)}, headers={"Cache-Control": "no-store"}
        )

    def index(self, request: Request) -> HTMLResponse:
        rows = []
        with pipeline.open_store(self.settings) as store:
            for news_list in store.lists():
                today = issue.local_today(news_list, self._now())
                days = proof.edition_days(store, news_list, today)
                zones = approval.list_zones(store, news_list)
                links = " ".join(
                    f'<span class="day"><a href="/preview/{_q(news_list.slug)}/{d.isoformat()}">'
                    f"{d.isoformat()}{_day_label(d, today)}</a>"
                    + (
                        " "
                        + desk.state_badge(
                            approval.edition_state(
                                store, news_list, d, now=self._now(), zones=zones
                            )
                        )
                        if n < STATES_SHOWN
                        else ""
                    )
                    + "</span>"
                    for n, d in enumerate(days)
                )
                rows.append(
                    f"<tr><th scope=row>{_e(news_list.name)}<br><small>{_e(news_list.slug)} · "
                    f"{_e(news_list.locale)} · {_e(news_list.timezone)}</small></th>"
                    f"<td class=days>{links}</td></tr>"
                )
        body = "<h1>Lists and editions</h1>" + (
            "<table><tr><th>List</th><th>Editions (upcoming first)</th></tr>"
            + "".join(rows)
            + "</table>"
            if rows
            else "<p>No lists yet: create one with <code>digest lists add</code>.</p>"
        )
        body += '<p><a href="/preview/bounces">Bounces and complaints</a></p>'
        return self._page("digest preview", body)

    def bounces(self, request: Request) -> HTMLResponse:
        """`digest bounces report` as a page: per edition and by receiving domain."""
        with pipeline.open_store(self.settings) as store:
            report = pipeline.bounce_report(store)
        total = report["total"]
        body = (
            "<h1>Bounces and complaints</h1>"
            f'<p class="total">{total["hard"]} hard, {total["soft"]} soft,'
            f" {total['complaints']} complaints, from the imported bounce mailbox"
            " (<code>digest bounces import</code> / <code>fetch</code>).</p>"
        )
        for title, key, column in (
            ("Per edition", "editions", "Edition"),
            ("By receiving domain", "domains", "Domain"),
        ):
            rows = "".join(
                f"<tr><th scope=row>{_e(row['name'])}</th><td>{row['hard']}</td>"
                f"<td>{row['soft']}</td><td>{row['complaints']}</td></tr>"
                for row in report[key]
            )
            body += (
                f'<section id="{key}"><h2>{title}</h2>'
                + (
                    f"<table><tr><th>{column}</th><th>Hard</th><th>Soft</th><th>Complaints</th></tr>"
                    + rows
                    + "</table>"
                    if rows
                    else "<p>None.</p>"
                )
                + "</section>"
            )
        return self._page("Bounces · digest preview", body)

    def edition(self, request: Request) -> HTMLResponse:
        slug, day = request.path_params["slug"], request.path_params["day"]
        params = request.query_params
        view = params.get("view", "side")
        if view not in VIEWS:
            view = "side"
        try:
            parsed_day = _parse_day(day)
            with pipeline.open_store(self.settings) as store:
                news_list = store.get_list(slug)
                find = (params.get("find") or "").strip()
                found = store.find_recipients(news_list, find, limit=FIND_LIMIT) if find else []
                chosen = _int(params.get("as"))
                if chosen is None and len(found) == 1:
                    chosen = found[0].id  # the search named one person: show them
                current = store.get_subscriber_by_id(chosen) if chosen is not None else None
                preview = proof.preview_as(
                    store,
                    self.settings,
                    slug=slug,
                    day=parsed_day,
                    subscriber_id=chosen,
                    locale=_locale(params.get("lang")),
                    now=self._now(),
                )
                state = approval.edition_state(store, news_list, parsed_day, now=self._now())
                built = pipeline.load_edition(store, news_list, parsed_day, edited=False)
                edits = store.edition_edits(news_list, parsed_day)
        except DigestError as exc:
            return self._error(exc, title=f"{slug} {day}")
        token = desk.form_token(load_secret(self.settings.secret_file), slug, parsed_day)
        as_text = str(chosen) if chosen is not None else ""
        kept = {k: v for k, v in (("as", as_text), ("lang", params.get("lang"))) if v}
        tabs = "".join(
            f'<a role="tab" href="?{urlencode({**kept, "view": key})}"'
            f"{' aria-selected=true class=on' if key == view else ''}>{label}</a>"
            for key, label in VIEWS.items()
        )

        def frame(which: str) -> str:
            query = urlencode({**kept, **({"dark": "1"} if which == "dark" else {})})
            src = f"/preview/{_q(slug)}/{parsed_day.isoformat()}/email.html?{query}"
            return (
                f'<iframe class="email" title="{_e(VIEWS[which])}" src="{_e(src)}" '
                f'width="{FRAME_WIDTHS[which]}" style="width:{FRAME_WIDTHS[which]}px" '
                f'data-view="{which}"></iframe>'
            )

        if view == "side":
            shown = f'<div class="frames">{frame("desktop")}{frame("mobile")}</div>'
        elif view in FRAME_WIDTHS:
            shown = frame(view)
        else:
            source = {
                "html": preview.html,
                "text": preview.text,
                "mjml": preview.rendered.mjml,
                "raw": preview.raw.decode("ascii", "replace"),
            }[view]
            shown = f'<pre class="source" data-view="{view}">{_e(source)}</pre>'
        notice = params.get("notice")
        body = (
            f"<h1>{_e(news_list.name)} · {parsed_day.isoformat()}</h1>"
            f'<p class="sub">{_e(preview.rendered.subject)} · '
            f"{issue.counted(preview.edition.article_count, 'article')} in "
            f"{issue.counted(len(preview.edition.sections), 'section')} · "
            f"{_e(preview.rendered.locale)}</p>"
            + (f'<p class="notice" role="status">{_e(notice)}</p>' if notice else "")
            + desk.status_panel(state, news_list, parsed_day)
            + desk.inbox_line(news_list, preview.rendered.subject, preview.html)
            + desk.edit_forms(
                news_list=news_list,
                day=parsed_day,
                built=built,
                edits=edits,
                state=state,
                token=token,
            )
            + self._as_form(current, found, params, view, chosen_as=as_text)
            + f'<nav class="tabs" role="tablist">{tabs}</nav>'
            + f'<div class="main"><div class="view">{shown}</div><aside>'
            + _checks_panel(preview.checks)
            + _send_form(slug, parsed_day, kept)
            + "</aside></div>"
        )
        return self._page(f"{news_list.name} {parsed_day} – preview", body)

    def email_html(self, request: Request) -> HTMLResponse:
        slug, day = request.path_params["slug"], request.path_params["day"]
        params = request.query_params
        try:
            with pipeline.open_store(self.settings) as store:
                preview = proof.preview_as(
                    store,
                    self.settings,
                    slug=slug,
                    day=_parse_day(day),
                    subscriber_id=_int(params.get("as")),
                    locale=_locale(params.get("lang")),
                    now=self._now(),
                )
        except DigestError as exc:
            return self._error(exc, title=f"{slug} {day}")
        body = preview.html
        if params.get("dark") == "1":
            # Apply the theme's dark-mode rules whatever the editor's own system uses.
            body = body.replace("@media (prefers-color-scheme: dark)", "@media all")
        return HTMLResponse(body, headers={"Cache-Control": "no-store"})

    async def send_test(self, request: Request) -> Response:
        slug, day = request.path_params["slug"], request.path_params["day"]
        if not _same_origin(request):
            return HTMLResponse("cross-site request refused", status_code=403)
        form = await read_form(request, max_bytes=SEND_TEST_MAX_BODY, max_fields=20)
        field = {name: str(form.get(name) or "").strip() for name in ("to", "as", "lang")}

        def send() -> str:
            with pipeline.open_store(self.settings) as store:
                return proof.send_test(
                    store,
                    self.settings,
                    slug=slug,
                    day=_parse_day(day),
                    to=field["to"],
                    subscriber_id=_int(field["as"]),
                    locale=_locale(field["lang"]),
                    now=self._now(),
                )

        try:
            notice = await run_in_threadpool(send)
        except DigestError as exc:
            notice = f"not sent: {exc.message}" + (f" ({exc.hint})" if exc.hint else "")
        state = {k: field[k] for k in ("as", "lang") if field[k]}
        query = urlencode({**state, "notice": notice})
        return RedirectResponse(f"/preview/{_q(slug)}/{day}?{query}", status_code=303)

    async def edit(self, request: Request) -> Response:
        """The desk's edit form: the whole set of edits, as `digest editions edit --clear`
        with every option given; refused edits come back as a notice."""
        slug, day = request.path_params["slug"], request.path_params["day"]
        form = await read_form(request, max_bytes=DESK_MAX_BODY, max_fields=2000)
        refused = self._refused(form, slug, day)
        if refused is not None:
            return refused

        def save() -> str:
            with pipeline.open_store(self.settings) as store:
                edits, withdrawn = pipeline.edit_edition(
                    store,
                    slug=slug,
                    day=_parse_day(day),
                    now=self._now(),
                    lead=str(form.get("lead") or ""),
                    drops=tuple(str(v) for v in form.getlist("drop")),
                    pins=tuple(str(v) for v in form.getlist("pin")),
                    note=str(form.get("note") or "").replace("\r\n", "\n").strip(),
                    subject=str(form.get("subject") or "").strip(),
                )
            note = "edits saved" if not edits.empty else "no edits: the edition as built"
            if withdrawn is not None:
                note += f"; this withdrew the approval by {withdrawn.approved_by}: approve it again"
            return note

        return await self._act(slug, day, save, failed="not saved")

    async def approve(self, request: Request) -> Response:
        slug, day = request.path_params["slug"], request.path_params["day"]
        form = await read_form(request, max_bytes=SEND_TEST_MAX_BODY, max_fields=20)
        refused = self._refused(form, slug, day)
        if refused is not None:
            return refused
        revoke = form.get("action") == "revoke"
        who = _basic_user(request) or f"preview ({request.client.host if request.client else '?'})"

        def act() -> str:
            with pipeline.open_store(self.settings) as store:
                result = approval.approve(
                    store, slug=slug, day=_parse_day(day), by=who, now=self._now(), revoke=revoke
                )
            if revoke:
                return "approval withdrawn" if result is not None else "it was not approved"
            return f"approved by {who}"

        return await self._act(slug, day, act, failed="not done")

    def _refused(self, form: FormData, slug: str, day: str) -> Response | None:
        """403 unless the form carries this edition's token from its own page."""
        try:
            parsed = _parse_day(day)
        except DigestError:
            return HTMLResponse("not an edition", status_code=404)
        secret = load_secret(self.settings.secret_file)
        if not desk.token_ok([secret], str(form.get("token") or ""), slug, parsed):
            return HTMLResponse("form token missing or wrong: reload the page", status_code=403)
        return None

    async def _act(self, slug: str, day: str, work: Callable[[], str], *, failed: str) -> Response:
        try:
            notice = await run_in_threadpool(work)
        except DigestError as exc:
            notice = f"{failed}: {exc.message}" + (f" ({exc.hint})" if exc.hint else "")
        query = urlencode({"notice": notice})
        return RedirectResponse(f"/preview/{_q(slug)}/{day}?{query}", status_code=303)

    # -- page pieces ---------------------------------------------------------------------

    def _as_form(
        self,
        current: Subscriber | None,
        found: list[Subscriber],
        params: QueryParams,
        view: str,
        *,
        chosen_as: str,
    ) -> str:
        """Preview as: everyone, the chosen subscriber, or one of a search's few matches.

        Never one option per subscriber: at 100,000 that was an 8.5 MB page.
        """
        chosen_lang = params.get("lang") or ""
        find = (params.get("find") or "").strip()
        options = ['<option value="">everyone (all sections, the list\'s language)</option>']
        people = ([current] if current is not None else []) + [
            p for p in found if current is None or p.id != current.id
        ]
        for person in people:
            sid = str(person.id)
            label = f"{person.name} <{person.email}>" if person.name else person.email
            label += f" ({person.locale})" if person.locale else ""
            selected = " selected" if sid == chosen_as else ""
            options.append(f'<option value="{_e(sid)}"{selected}>{_e(label)}</option>')
        if find and not found:
            hint = f"no subscriber of this list matches “{find}”"
        elif len(found) == FIND_LIMIT:
            hint = f"the first {FIND_LIMIT} matches; type more to narrow"
        else:
            hint = ""
        langs = ['<option value="">their language</option>'] + [
            f'<option value="{code}"{" selected" if code == chosen_lang else ""}>{code}</option>'
            for code in LANGUAGES
        ]
        return (
            '<form class="as" method="get"><label>Preview as <select name="as">'
            + "".join(options)
            + '</select></label> <label>in <select name="lang">'
            + "".join(langs)
            + "</select></label> <label>find "
            + f'<input type="search" name="find" value="{_e(find)}" maxlength="200" '
            + 'placeholder="address or name" autocomplete="off"></label>'
            + f'<input type="hidden" name="view" value="{_e(view)}">'
            + ' <button type="submit">Show</button>'
            + (f' <small class="find-hint">{_e(hint)}</small>' if hint else "")
            + "</form>"
        )

    def _error(self, exc: DigestError, *, title: str) -> HTMLResponse:
        status = 404 if isinstance(exc, NotFoundError) else 400
        if isinstance(exc, TemplateError):
            status = 500
        body = (
            f'<div class="error" role="alert"><h1>{_e(type(exc).__name__)}</h1>'
            f"<p><code>{_e(exc.message)}</code></p>"
            + (f"<p>Hint: {_e(exc.hint)}</p>" if exc.hint else "")
            + "<p>This page reloads by itself when the templates or the database change.</p>"
            "</div>"
        )
        return self._page(title, body, status=status)

    def _page(self, title: str, body: str, *, status: int = 200) -> HTMLResponse:
        version = content_version(self.settings)
        page = (
            "<!doctype html><html lang=en><head><meta charset=utf-8>"
            '<meta name="viewport" content="width=device-width, initial-scale=1">'
            '<link rel="icon" href="data:,">'  # else the browser's /favicon.ico is a 404
            f"<title>{_e(title)}</title><style>{STYLE}</style></head>"
            f'<body data-version="{version}"><header><a href="/preview/">digest preview</a>'
            f"</header><main>{body}</main><script>{SCRIPT}</script></body></html>"
        )
        return HTMLResponse(page, status_code=status, headers={"Cache-Control": "no-store"})


def _checks_panel(checks: Iterable[Check]) -> str:
    items = []
    for check in checks:
        details = "".join(f"<li>{_e(item)}</li>" for item in check.items)
        items.append(
            f'<li class="{"ok" if check.ok else "bad"}" data-check="{_e(check.name)}">'
            f'<span aria-hidden="true">{"✓" if check.ok else "✗"}</span> '
            f"<strong>{_e(check.name)}</strong>: {_e(check.summary)}"
            + (f"<ul>{details}</ul>" if details else "")
            + "</li>"
        )
    return '<section class="checks"><h2>Checks</h2><ul>' + "".join(items) + "</ul></section>"


def _send_form(slug: str, day: date, state: dict[str, str]) -> str:
    """Send what the page shows: the chosen subscriber and language go with the form."""
    hidden = "".join(
        f'<input type="hidden" name="{_e(k)}" value="{_e(v)}">' for k, v in state.items()
    )
    return (
        f'<section class="send"><h2>Send a test</h2><form method="post" '
        f'action="/preview/{_q(slug)}/{day.isoformat()}/send-test">{hidden}'
        '<label>To <input type="email" name="to" required placeholder="editor@example.com">'
        "</label> <button type=submit>Send test</button></form><p><small>One copy of this "
        "view (sections, language, name), subject marked [Test], to that address only, "
        "through the configured SMTP server; nothing is recorded.</small></p></section>"
    )


def _same_origin(request: Request) -> bool:
    """Refuse form posts from other sites (the preview has no login on loopback)."""
    origin = request.headers.get("origin") or request.headers.get("referer")
    if not origin:
        return True
    return urlsplit(origin).netloc == request.headers.get("host", "")


def _basic_user(request: Request) -> str:
    """The user name an editor gave with the password (`serve --public`), if any."""
    scheme, _, encoded = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "basic" or len(encoded) > 1024:
        return ""
    try:
        user = base64.b64decode(encoded, validate=True).decode("utf-8").partition(":")[0]
    except (binascii.Error, ValueError):
        return ""
    return user.strip()[:100] if user.isprintable() else ""


def _parse_day(value: str) -> date:
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise InputError(f"{value!r} is not a date", hint="use YYYY-MM-DD") from None


def _int(value: str | None) -> int | None:
    return int(value) if value and value.isdigit() else None


def _locale(value: str | None) -> str | None:
    return value if value and parse_locale(value) is not None else None


def _day_label(day: date, today: date) -> str:
    if day == today:
        return " (today)"
    if (day - today).days == 1:
        return " (tomorrow)"
    return ""


def _e(value: object) -> str:
    return html.escape(str(value), quote=True)


def _q(value: str) -> str:
    return quote(value, safe="")


STYLE = (
    """
body { font: 15px/1.45 system-ui, sans-serif; margin: 0; color: #1f1f1f; background: #fafafa; }
header { padding: 8px 16px; background: #1f1f1f; } header a { color: #fff; font-weight: bold; }
main { padding: 12px 16px; } h1 { font-size: 20px; margin: 4px 0; }
.sub { color: #555; margin: 0 0 8px; } .notice { background: #e6f4ea; padding: 6px 10px; }
.tabs { display: flex; flex-wrap: wrap; gap: 4px; margin: 8px 0; border-bottom: 1px solid #ccc; }
.tabs a { padding: 6px 10px; text-decoration: none; color: #1f1f1f; border-radius: 4px 4px 0 0; }
.tabs a.on { background: #1f1f1f; color: #fff; }
.main { display: flex; flex-wrap: wrap; gap: 16px; align-items: flex-start; }
.view { flex: 0 0 auto; max-width: 100%; }
iframe.email { border: 1px solid #ccc; display: block; min-height: 400px; background: #fff; }
pre.source { white-space: pre-wrap; word-break: break-all; max-width: 900px; background: #fff;
  border: 1px solid #ccc; padding: 8px; font-size: 12px; }
aside { flex: 1 1 280px; max-width: 420px; }
.checks ul { list-style: none; padding: 0; } .checks li { margin: 6px 0; }
.checks li ul { list-style: disc; padding-left: 20px; font-size: 13px; word-break: break-all; }
.ok span { color: #137333; } .bad span { color: #b3261e; }
.error { border: 2px solid #b3261e; background: #fce8e6; padding: 8px 16px; }
table { border-collapse: collapse; } th, td { text-align: left; padding: 6px 10px;
  border-bottom: 1px solid #ddd; vertical-align: top; } .days .day { margin-right: 12px; }
"""
    + desk.STYLE
)

# Live reload: poll the content version; on change remember the scroll position, reload,
# and restore it once the email frames have loaded and been sized to their content.
SCRIPT = (
    """
(() => {
  const key = 'digest-scroll:' + location.pathname + location.search;
  let version = document.body.dataset.version;
  const frames = [...document.querySelectorAll('iframe.email')];
  const fit = (f) => { try {
    f.style.height = f.contentDocument.documentElement.scrollHeight + 'px'; } catch (e) {} };
  const restore = () => {
    const saved = JSON.parse(sessionStorage.getItem(key) || 'null');
    if (saved) { window.scrollTo(saved.x, saved.y); sessionStorage.removeItem(key); }
    document.body.dataset.ready = '1';
  };
  let pending = frames.length;
  const loaded = (f) => { fit(f); if (--pending === 0) restore(); };
  frames.forEach((f) => {
    const doc = f.contentDocument;
    if (doc && doc.readyState === 'complete' && doc.URL !== 'about:blank') loaded(f);
    else f.addEventListener('load', () => loaded(f), {once: true});
  });
  if (!frames.length) restore();
  // Unsaved typing in the edit form is never thrown away: no reload while it is dirty
  // (a notice says the edition changed elsewhere), and Approve asks first.
  let dirty = false;
  const edit = document.querySelector('form.edit');
  if (edit) {
    const mark = () => { dirty = true; };
    edit.addEventListener('input', mark);
    edit.addEventListener('change', mark);
    edit.addEventListener('submit', () => { dirty = false; });
  }
  const approve = document.querySelector('form.approve');
  if (approve) approve.addEventListener('submit', (e) => {
    if (dirty && !confirm('Your edits are not saved. Approve the saved version without them?')) {
      e.preventDefault();
    }
  });
  const stale = () => {
    if (document.querySelector('p.stale')) return;
    const p = document.createElement('p');
    p.className = 'notice stale';
    p.setAttribute('role', 'status');
    p.textContent = 'This edition changed elsewhere while you were editing: save your '
      + 'edits to keep them, or reload the page to see the change.';
    edit.before(p);
  };
  // Once a form is on its way, the page is leaving: a reload now would cancel that
  // navigation and land on this page again, without the post's notice (the post's own
  // database change is what the poll would see).
  let leaving = false;
  document.addEventListener('submit', (e) => { if (!e.defaultPrevented) leaving = true; });
  const poll = async () => {
    if (leaving) return;
    try {
      const r = await fetch('/preview/_version', {cache: 'no-store'});
      const v = (await r.json()).version;
      if (leaving) return;
      if (v !== version && dirty) stale();
      else if (v !== version) {
        sessionStorage.setItem(key, JSON.stringify({x: window.scrollX, y: window.scrollY}));
        version = v;
        location.reload();
        return;
      }
    } catch (e) {}
    setTimeout(poll, POLL_MS);
  };
  setTimeout(poll, POLL_MS);
})();
"""
).replace("POLL_MS", str(POLL_MS))
