"""The editor's desk on an edition's preview page: where the edition stands (state,
approval, the ledger's counts and progress), the inbox line, and the editing and
approval forms. HTML pieces only; the routes live in `preview`.

The forms post to the preview itself, so the Guard protects them like every preview
route (Host check, the editor password under `--public`, Origin and Sec-Fetch-Site for
any POST); each also carries a token signed with the site secret for this edition,
checked with a constant-time compare, so a post from anywhere but this page is refused
even from a client that sends no Origin.
"""

from __future__ import annotations

import html
import re
from collections.abc import Iterable
from datetime import date
from urllib.parse import quote

from digest.approval import EditionState
from digest.models import Edition, EditionEdits, NewsList
from digest.secret import sign, verify

FORM_PURPOSE = "preview-desk"
STATE_CLASS = {
    "draft": "draft",
    "awaiting approval": "awaiting",
    "approved": "approved",
    "missed approval": "missed",
    "sending": "sending",
    "sent": "sent",
}
COUNTED = ("sent", "deferred", "bounced", "failed")
PREHEADER = re.compile(r'<div class="preheader"[^>]*>(.*?)</div>', re.DOTALL)


def form_token(secret: bytes, slug: str, day: date) -> str:
    return sign(secret, FORM_PURPOSE, slug, day.isoformat())


def token_ok(secrets: Iterable[bytes], token: str, slug: str, day: date) -> bool:
    return bool(token) and verify(list(secrets), token, FORM_PURPOSE, slug, day.isoformat())


def state_badge(state: EditionState) -> str:
    return (
        f'<span class="state {STATE_CLASS[state.state]}" data-state="{_e(state.state)}">'
        f"{_e(state.state)}</span>"
    )


def status_panel(state: EditionState, news_list: NewsList, day: date) -> str:
    """State, due moment, approval, the ledger's counts and, while sending, progress."""
    parts = [state_badge(state), f"<span>due {state.due_at:%Y-%m-%d %H:%M} UTC</span>"]
    if state.approval is not None:
        parts.append(
            f'<span class="approved-by">approved by {_e(state.approval.approved_by)} at '
            f"{state.approval.approved_at:%Y-%m-%d %H:%M} UTC</span>"
        )
        if late := state.late_hint(news_list, day):
            shown = re.sub(r"`([^`]+)`", r"<code>\1</code>", _e(late))  # commands as code
            parts.append(f'<span class="late">{shown}</span>')
    elif news_list.approval == "required" and state.state in (
        "awaiting approval",
        "missed approval",
    ):
        parts.append("<span>needs approval before it goes out</span>")
        if state.missed_logged_at is not None:
            parts.append(
                '<span class="missed-at">held at its due moment, logged at '
                f"{state.missed_logged_at:%Y-%m-%d %H:%M} UTC</span>"
            )
    if state.counts:
        parts.append(
            '<span class="counts">'
            + " · ".join(
                f'<b data-count="{name}">{state.counts.get(name, 0)}</b> {name}' for name in COUNTED
            )
            + f" of {state.total}</span>"
        )
    if state.state == "sending" and state.total:
        percent = 100 * state.finished // state.total
        parts.append(
            f'<progress max="{state.total}" value="{state.finished}" '
            f'aria-label="sent so far">{percent}%</progress> <span>{percent}%</span>'
        )
    return '<section class="status" aria-label="edition state">' + " ".join(parts) + "</section>"


def inbox_line(news_list: NewsList, subject: str, email_html: str) -> str:
    """The edition as an inbox shows it: sender, subject, preheader."""
    found = PREHEADER.search(email_html)
    preheader = html.unescape(re.sub(r"<[^>]+>", "", found.group(1))).strip() if found else ""
    return (
        '<div class="inbox" aria-label="as an inbox shows it">'
        f'<span class="from" title="{_e(news_list.from_addr)}">{_e(news_list.name)}</span>'
        f'<span class="subject">{_e(subject)}</span>'
        f'<span class="preheader"> – {_e(preheader)}</span></div>'
    )


def edit_forms(
    *,
    news_list: NewsList,
    day: date,
    built: Edition,
    edits: EditionEdits,
    state: EditionState,
    token: str,
) -> str:
    """Lead, drop, pin, note and subject in one form, and the approve (or withdraw) button."""
    base = f"/preview/{quote(news_list.slug, safe='')}/{day.isoformat()}"
    hidden = f'<input type="hidden" name="token" value="{_e(token)}">'
    if state.state in ("sending", "sent"):
        went = "went out" if state.state == "sent" else "began going out"
        return (
            f'<section class="desk"><p>This edition {went}: it can no longer be '
            "edited or approved.</p></section>"
        )
    rows = []
    lead_options = ['<option value="">the usual top story</option>']
    drops, pins = set(edits.drops), set(edits.pins)
    for section in built.sections:
        for article in section.articles:
            url = _e(article.url)
            chosen = " selected" if article.url == edits.lead else ""
            lead_options.append(f'<option value="{url}"{chosen}>{_e(article.title)}</option>')
            rows.append(
                f"<tr><td>{_e(section.name)}</td><td>{_e(article.title)}</td>"
                f'<td><label><input type="checkbox" name="pin" value="{url}"'
                f"{' checked' if article.url in pins else ''}> pin</label></td>"
                f'<td><label><input type="checkbox" name="drop" value="{url}"'
                f"{' checked' if article.url in drops else ''}> drop</label></td></tr>"
            )
    edit = (
        f'<form class="edit" method="post" action="{base}/edit">{hidden}'
        f'<label>Lead <select name="lead">{"".join(lead_options)}</select></label> '
        f'<label>Subject <input name="subject" maxlength="200" value="{_e(edits.subject)}" '
        'placeholder="the usual subject"></label>'
        + _stories_summary(edits)
        + '<table class="stories">'
        + "".join(rows)
        + "</table></details>"
        f'<label class="note">Note (Markdown) <textarea name="note" rows="2" maxlength="5000">'
        f"{_e(edits.note)}</textarea></label>"
        ' <button type="submit" name="save" value="1">Save edits</button></form>'
    )
    approve = ""
    if news_list.approval == "required":
        action, label = (
            ("revoke", "Withdraw approval") if state.approval else ("approve", "Approve")
        )
        approve = (
            f'<form class="approve" method="post" action="{base}/approve">{hidden}'
            f'<input type="hidden" name="action" value="{action}">'
            f'<button type="submit" data-action="{action}">{label}</button></form>'
        )
    return f'<section class="desk"><h2>Edit</h2>{edit}{approve}</section>'


def _stories_summary(edits: EditionEdits) -> str:
    """The pin/drop table's heading: folded while nothing is pinned or dropped, open
    and counted once something is, so the page shows what the editor already did."""
    done = [
        f"{len(items)} {word}"
        for items, word in ((edits.pins, "pinned"), (edits.drops, "dropped"))
        if items
    ]
    if not done:
        return "<details><summary>Stories: pin or drop</summary>"
    return f"<details open><summary>Stories: pin or drop ({', '.join(done)})</summary>"


def _e(value: object) -> str:
    return html.escape(str(value), quote=True)


STYLE = """
.status { display: flex; flex-wrap: wrap; gap: 10px; align-items: center; margin: 6px 0; }
.state { padding: 2px 8px; border-radius: 10px; font-weight: bold; background: #e0e0e0; }
.state.awaiting { background: #fff3cd; } .state.approved { background: #e6f4ea; }
.state.missed { background: #fce8e6; color: #b3261e; } .state.sending { background: #e8f0fe; }
.state.sent { background: #1f1f1f; color: #fff; }
.inbox { display: flex; gap: 10px; padding: 8px 10px; background: #fff; border: 1px solid #ccc;
  max-width: 1000px; white-space: nowrap; overflow: hidden; }
.inbox .from { font-weight: bold; min-width: 140px; } .inbox .subject { font-weight: bold; }
.inbox .preheader { color: #666; overflow: hidden; text-overflow: ellipsis; }
.desk { margin: 8px 0; } .desk h2 { font-size: 16px; margin: 4px 0; }
.desk form { display: inline-block; vertical-align: top; margin-right: 12px; }
.desk .note { display: block; } .desk textarea { width: 480px; max-width: 100%; }
.stories td { padding: 2px 6px; font-size: 13px; }
.frames { display: flex; flex-wrap: nowrap; gap: 16px; align-items: flex-start; }
"""
