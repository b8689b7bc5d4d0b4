"""Subscriptions: who is on which list, with which sections, and who receives mail
(leaving and rejoining, pausing, the subscriber-facing preferences)."""

from __future__ import annotations

import itertools
import json
from collections.abc import Iterable, Iterator
from datetime import datetime
from typing import Any

from digest.errors import InputError, NotFoundError, StoreError
from digest.models import NewsList, Recipient, Subscriber, Subscription
from digest.store.base import sections_json, to_text
from digest.store.lists import _list_from_row
from digest.store.subscribers import SubscribersMixin, _subscriber_from_row

NO_CONSENT = ("", "", "", "", "", "admin")  # a subscription with no record: single opt-in
NO_LIST = ("",) * 6
# The consent record's cells in export_rows (roster.CONSENT_COLUMNS without "consent_").
CONSENT_FIELDS = ("signed_up_at", "form", "form_version", "confirmed_at", "ip", "source")


class SubscriptionsMixin(SubscribersMixin):
    def unsubscribe(
        self, email_or_id: str | int, list_slug: str | None = None, *, now: datetime
    ) -> Subscriber:
        """From one list (its subscription only), or from everything (the subscriber)."""
        subscriber = self.find_subscriber(email_or_id)
        sid = int(subscriber.id or 0)
        with self.transaction():
            was = self.subscription_statuses(sid)
            if list_slug:
                news_list = self.get_list(list_slug)
                cursor = self.db.execute(
                    "UPDATE subscriptions SET status = 'unsubscribed'"
                    " WHERE subscriber_id = ? AND list_id = ?",
                    [subscriber.id, news_list.id],
                )
                if cursor.rowcount == 0:
                    raise NotFoundError(
                        f"{subscriber.email} is not subscribed to {list_slug!r}",
                        hint="see `digest subscribers show " + subscriber.email + "`",
                    )
                if was.get(list_slug) == "active" and subscriber.status == "active":
                    self.emit_event(
                        "unsubscribe", now=now, subscriber_id=sid, list_id=news_list.id, via="cli"
                    )
            else:
                self.db.execute(
                    "UPDATE subscriptions SET status = 'unsubscribed' WHERE subscriber_id = ?",
                    [subscriber.id],
                )
                if subscriber.status == "active":
                    self.set_subscriber_status(sid, "unsubscribed", now=now, emit=False)
                    if "active" in was.values():  # one event: the address as a whole
                        self.emit_event("unsubscribe", now=now, subscriber_id=sid, via="cli")
            self.db.execute(
                "UPDATE subscribers SET updated_at = ? WHERE id = ?", [to_text(now), subscriber.id]
            )
        return self.find_subscriber(int(subscriber.id or 0))

    def resubscribe(
        self,
        email_or_id: str | int,
        list_slug: str | None = None,
        *,
        force: bool = False,
        now: datetime,
    ) -> Subscriber:
        """Back to active (and the subscription, or all of them, active again).

        Refused for a bounced or complained address unless `force`.
        """
        subscriber = self.find_subscriber(email_or_id)
        if subscriber.status in ("bounced", "complained") and not force:
            raise StoreError(
                f"{subscriber.email} is {subscriber.status}; not resubscribed",
                hint="mail to it bounced or was reported as spam; add --force if you are sure",
            )
        sid = int(subscriber.id or 0)
        with self.transaction():
            was = self.subscription_statuses(sid)
            if list_slug:
                news_list = self.get_list(list_slug)
                self.db.execute(
                    "INSERT INTO subscriptions (subscriber_id, list_id, created_at)"
                    " VALUES (?, ?, ?) ON CONFLICT (subscriber_id, list_id)"
                    " DO UPDATE SET status = 'active'",
                    [subscriber.id, news_list.id, to_text(now)],
                )
            else:
                self.db.execute(
                    "UPDATE subscriptions SET status = 'active' WHERE subscriber_id = ?",
                    [subscriber.id],
                )
            self.set_subscriber_status(sid, "active", now=now, emit=False)
            back = subscriber.status != "active"
            for slug, status in self.subscription_statuses(sid).items():
                if status == "active" and (back or was.get(slug) != "active"):
                    self.emit_event(
                        "subscribe",
                        now=now,
                        subscriber_id=sid,
                        list_id=self.get_list(slug).id,
                        via="cli",
                    )
        return self.find_subscriber(int(subscriber.id or 0))

    def set_sections(
        self, email_or_id: str | int, list_slug: str, sections: Iterable[str]
    ) -> tuple[str, ...]:
        """The sections this subscriber wants from one list (none: the whole edition)."""
        subscriber = self.find_subscriber(email_or_id)
        news_list = self.get_list(list_slug)
        wanted = self._known_sections(news_list, sections)
        if not self.set_subscription_sections(
            int(subscriber.id or 0), int(news_list.id or 0), wanted
        ):
            raise NotFoundError(
                f"{subscriber.email} is not subscribed to {list_slug!r}",
                hint=f"first: digest subscribers add {subscriber.email} --list {list_slug}",
            )
        return wanted

    def _known_sections(self, news_list: NewsList, sections: Iterable[str]) -> tuple[str, ...]:
        """`sections` spelt as the list or its articles spell them; InputError for others.

        The known ones are the list's own order, then every section an article has; a
        name matches whatever its case ('sport' is 'Sport'), as editions match them.
        """
        wanted = tuple(dict.fromkeys(sections))
        if not wanted:
            return ()
        known = list(news_list.sections)
        known += sorted(
            row["section"]
            for row in self._rows("SELECT DISTINCT section FROM articles WHERE section != ''")
            if row["section"] not in known
        )
        by_fold = {name.casefold(): name for name in reversed(known)}
        unknown = [name for name in wanted if name.casefold() not in by_fold]
        if unknown:
            raise InputError(
                f"--section: {unknown[0]!r} is not a section of {news_list.slug}",
                hint=(
                    "sections: " + ", ".join(known)
                    if known
                    else f"it has none yet: digest lists edit {news_list.slug} --section NAME"
                ),
            )
        return tuple(dict.fromkeys(by_fold[name.casefold()] for name in wanted))

    def subscription_sections(self, subscriber_id: int) -> dict[str, list[str]]:
        return {
            row["slug"]: json.loads(row["sections"])
            for row in self._rows(
                "SELECT l.slug, x.sections FROM subscriptions x JOIN lists l ON l.id = x.list_id"
                " WHERE x.subscriber_id = ?",
                [subscriber_id],
            )
        }

    def subscription_statuses(self, subscriber_id: int) -> dict[str, str]:
        """{list slug: 'active' | 'unsubscribed'} for one subscriber."""
        return {
            row["slug"]: row["status"]
            for row in self._rows(
                "SELECT l.slug, x.status FROM subscriptions x JOIN lists l ON l.id = x.list_id"
                " WHERE x.subscriber_id = ? ORDER BY l.slug",
                [subscriber_id],
            )
        }

    def find_recipients(
        self, news_list: NewsList, text: str, *, limit: int = 10
    ) -> list[Subscriber]:
        """Up to `limit` of the list's recipients whose address or name contains `text`
        (any case), by address: what the preview's "preview as" search shows."""
        needle = text.strip().casefold()[:200]
        if not needle:
            return []
        rows = self._rows(
            "SELECT s.* FROM subscriptions x JOIN subscribers s ON s.id = x.subscriber_id"
            " WHERE x.list_id = ? AND x.status = 'active' AND s.status = 'active'"
            " AND s.paused_at IS NULL AND (instr(lower(s.email), ?) OR instr(lower(s.name), ?))"
            " ORDER BY s.email LIMIT ?",
            [news_list.id, needle, needle, limit],
        )
        return [_subscriber_from_row(row) for row in rows]

    def recipient(self, news_list: NewsList, subscriber_id: int) -> Recipient | None:
        """One subscriber as `recipients` would yield them, or None if they do not get it."""
        row = self._one(
            "SELECT s.*, x.sections AS list_sections FROM subscriptions x"
            " JOIN subscribers s ON s.id = x.subscriber_id"
            " WHERE x.list_id = ? AND x.subscriber_id = ? AND x.status = 'active'"
            " AND s.status = 'active' AND s.paused_at IS NULL",
            [news_list.id, subscriber_id],
        )
        if row is None:
            return None
        sections = tuple(json.loads(row.pop("list_sections")))
        return Recipient(_subscriber_from_row(row), sections)

    def recipients(self, news_list: NewsList) -> Iterator[Recipient]:
        """Active subscribers with an active subscription to the list, streamed by id."""
        for row in self._rows(
            "SELECT s.*, x.sections AS list_sections FROM subscriptions x"
            " JOIN subscribers s ON s.id = x.subscriber_id"
            " WHERE x.list_id = ? AND x.status = 'active' AND s.status = 'active'"
            " AND s.paused_at IS NULL ORDER BY s.id",
            [news_list.id],
        ):
            sections = tuple(json.loads(row.pop("list_sections")))
            yield Recipient(_subscriber_from_row(row), sections)

    def subscriptions(self, subscriber_id: int) -> list[Subscription]:
        """Every list the subscriber belongs to (active or not), by list slug."""
        subscriber = self.get_subscriber_by_id(subscriber_id)
        if subscriber is None:
            return []
        rows = self._rows(
            "SELECT l.*, x.status AS sub_status, x.sections AS sub_sections FROM subscriptions x"
            " JOIN lists l ON l.id = x.list_id WHERE x.subscriber_id = ? ORDER BY l.slug",
            [subscriber_id],
        )
        result = []
        for row in rows:
            status, sections = row.pop("sub_status"), tuple(json.loads(row.pop("sub_sections")))
            result.append(Subscription(subscriber, _list_from_row(row), status, sections))
        return result

    def set_subscription_status(
        self, subscriber_id: int, list_id: int, status: str, *, now: datetime, via: str
    ) -> bool:
        """'active' or 'unsubscribed'; False when there is no such subscription.

        A change writes its event (subscribe or unsubscribe, naming `via`) in the same
        transaction, when the subscriber's own status lets mail go to them."""
        with self.transaction():
            row = self._one(
                "SELECT s.status, p.status AS subscriber_status FROM subscriptions s"
                " JOIN subscribers p ON p.id = s.subscriber_id"
                " WHERE s.subscriber_id = ? AND s.list_id = ?",
                [subscriber_id, list_id],
            )
            if row is None:
                return False
            self.db.execute(
                "UPDATE subscriptions SET status = ? WHERE subscriber_id = ? AND list_id = ?",
                [status, subscriber_id, list_id],
            )
            if row["status"] != status and row["subscriber_status"] == "active":
                kind = "subscribe" if status == "active" else "unsubscribe"
                self.emit_event(
                    kind, now=now, subscriber_id=subscriber_id, list_id=list_id, via=via
                )
        return True

    def set_subscription_sections(
        self, subscriber_id: int, list_id: int, sections: Iterable[str]
    ) -> bool:
        """The sections the subscriber wants from the list; none means all of them.

        False when there is no such subscription."""
        cursor = self.db.execute(
            "UPDATE subscriptions SET sections = ? WHERE subscriber_id = ? AND list_id = ?",
            [sections_json(sections), subscriber_id, list_id],
        )
        return cursor.rowcount > 0

    def set_paused(self, subscriber_id: int, paused: bool, *, now: datetime) -> None:
        """Pause (or resume) every list's mail for the subscriber; recipients() skips them."""
        self.db.execute(
            "UPDATE subscribers SET paused_at = CASE WHEN ? THEN COALESCE(paused_at, ?)"
            " ELSE NULL END, updated_at = ? WHERE id = ?",
            [paused, to_text(now), to_text(now), subscriber_id],
        )

    def is_paused(self, subscriber_id: int) -> bool:
        row = self._one("SELECT paused_at FROM subscribers WHERE id = ?", [subscriber_id])
        return bool(row and row["paused_at"])

    def export_rows(
        self, list_slug: str | None = None, *, status: str | None = None
    ) -> Iterator[tuple[str, ...]]:
        """The export format (roster.SUBSCRIBER_COLUMNS), streamed: one row per subscriber
        and list (of `list_slug` only, if given), a subscriber on no list as one row, by
        address then list slug. The same filters as `subscribers`.

        Each subscription carries its consent record: the latest confirmed sign-up
        (source "signup"), else what an imported export said ("import-of-export"), else
        none ("admin"). Both are index look-ups per row, so the export still streams."""
        where, params = self._subscriber_query(list_slug, status)
        join_params: list[object] = []
        join = "LEFT JOIN subscriptions x ON x.subscriber_id = s.id"
        if list_slug:
            join += " AND x.list_id = ?"
            join_params.append(self.get_list(list_slug).id)
        sql = (
            "SELECT s.email, s.name, l.slug, s.locale, s.timezone, x.sections, s.status,"
            " x.status, s.paused_at,"
            " (SELECT json_array(g.created_at, g.form, g.form_version, g.confirmed_at, g.ip)"
            " FROM signups g WHERE g.email = s.email COLLATE NOCASE AND g.list_id = x.list_id"
            " AND g.confirmed_at IS NOT NULL ORDER BY g.confirmed_at DESC, g.id DESC LIMIT 1),"
            " c.signed_up_at, c.form, c.form_version, c.confirmed_at, c.ip"
            f" FROM subscribers s {join}"
            " LEFT JOIN imported_consents c ON c.subscriber_id = s.id AND c.list_id = x.list_id"
            f" LEFT JOIN lists l ON l.id = x.list_id{where} ORDER BY s.email, l.slug"
        )
        for (
            email,
            name,
            slug,
            locale,
            zone,
            sections,
            status_,
            list_status,
            paused,
            signed_up,
            *imported,
        ) in self.db.conn.execute(sql, [*join_params, *params]):
            if signed_up is not None:
                consent = (*json.loads(signed_up), "signup")
            elif imported[0] is not None:
                consent = (*imported, "import-of-export")
            else:
                consent = NO_CONSENT if slug else NO_LIST
            yield (
                email,
                name,
                slug or "",
                locale,
                zone,
                ";".join(json.loads(sections)) if sections else "",
                status_,
                list_status or "",
                paused or "",
                *consent,
            )

    def export_listing(
        self, list_slug: str | None = None, *, status: str | None = None
    ) -> Iterator[tuple[Subscriber, dict[str, list[str]], dict[str, dict[str, str]]]]:
        """`subscriber_listing` with each subscription's consent record ({slug: record},
        the columns of `export_rows` without their prefix), for `export --json`. Both
        queries stream in one read transaction, so they see the same subscribers."""
        start = 9  # export_rows' cells: the subscription's nine, then the consent record
        owns = not self.db.conn.in_transaction
        if owns:
            self.db.conn.execute("BEGIN")  # deferred: a read snapshot, no write lock
        try:
            rows = self.export_rows(list_slug, status=status)
            groups = itertools.groupby(rows, key=lambda cells: cells[0])
            for (subscriber, sections), (email, group) in zip(
                self.subscriber_listing(list_slug, status=status), groups, strict=True
            ):
                if email != subscriber.email:
                    raise StoreError(f"export out of step at {email}", hint="a bug: report it")
                yield (
                    subscriber,
                    sections,
                    {
                        cells[2]: dict(zip(CONSENT_FIELDS, cells[start:], strict=True))
                        for cells in group
                        if cells[2]
                    },
                )
        finally:
            if owns and self.db.conn.in_transaction:
                self.db.conn.execute("COMMIT")

    def keep_imported_consents(
        self, records: Iterable[tuple[str, int, Any]], *, now: datetime
    ) -> None:
        """Keep the consent records of an import, (address, list id, roster.ImportedConsent),
        as imported records: they never confirm a subscription or stand in for a sign-up."""
        self.db.conn.executemany(
            "INSERT INTO imported_consents (subscriber_id, list_id, signed_up_at, form,"
            " form_version, confirmed_at, ip, source, imported_at)"
            " SELECT id, ?, ?, ?, ?, ?, ?, ?, ? FROM subscribers WHERE email = ? COLLATE NOCASE"
            " ON CONFLICT (subscriber_id, list_id) DO UPDATE SET signed_up_at ="
            " excluded.signed_up_at, form = excluded.form, form_version = excluded.form_version,"
            " confirmed_at = excluded.confirmed_at, ip = excluded.ip, source = excluded.source,"
            " imported_at = excluded.imported_at",
            (
                [
                    list_id,
                    c.signed_up_at,
                    c.form,
                    c.form_version,
                    c.confirmed_at,
                    c.ip,
                    c.source,
                    to_text(now),
                    email,
                ]  # fmt: skip
                for email, list_id, c in records
            ),
        )

    def imported_consents(self, subscriber_id: int) -> list[dict[str, str]]:
        """The consent records an import brought for this subscriber, by list slug."""
        return list(
            self._rows(
                "SELECT l.slug AS list, c.signed_up_at, c.form, c.form_version, c.confirmed_at,"
                " c.ip, c.imported_at FROM imported_consents c JOIN lists l ON l.id = c.list_id"
                " WHERE c.subscriber_id = ? ORDER BY l.slug",
                [subscriber_id],
            )
        )

    def recipient_zones(self, news_list: NewsList) -> set[str]:
        """The distinct time zones (as stored; '' for none) of the list's recipients.

        Worked out once per roster version (see roster_version()) and kept in
        list_zones: every cron round asks, and at 1M subscribers the scan takes seconds.
        After a few changes only the zones of the subscribers the roster log names are
        looked at again (by index); after many, or a list-wide change, the whole list.
        """
        version = self.roster_version()
        cached = self._one(
            "SELECT zones, version FROM list_zones WHERE list_id = ?", [news_list.id]
        )
        if cached is not None and cached["version"] == version:
            return set(json.loads(cached["zones"]))
        changes = None if cached is None else self.roster_changes(cached["version"], version)
        if cached is not None and changes is not None:
            # Only the zones the changed subscribers were in, or are in now, can differ.
            zones = set(json.loads(cached["zones"]))
            touched = set(changes.old_zones) | {
                r["timezone"]
                for r in self._rows(
                    "SELECT timezone FROM subscribers WHERE id IN (SELECT value FROM json_each(?))",
                    [json.dumps(sorted(changes.subscribers))],
                )
            }
            for zone in touched:
                if self._zone_has_recipient(news_list, zone):
                    zones.add(zone)
                else:
                    zones.discard(zone)
            self._keep_zones(news_list, version, zones)
            return zones
        zones = {
            row["timezone"]
            for row in self._rows(
                "SELECT DISTINCT s.timezone FROM subscriptions x"
                " JOIN subscribers s ON s.id = x.subscriber_id"
                " WHERE x.list_id = ? AND x.status = 'active' AND s.status = 'active'"
                " AND s.paused_at IS NULL",
                [news_list.id],
            )
        }
        self._keep_zones(news_list, version, zones)
        return zones

    def _keep_zones(self, news_list: NewsList, version: int, zones: set[str]) -> None:
        with self.transaction():
            self.db.execute(
                "INSERT INTO list_zones (list_id, version, zones) VALUES (?, ?, ?)"
                " ON CONFLICT (list_id) DO UPDATE SET version = excluded.version,"
                " zones = excluded.zones",
                [news_list.id, version, json.dumps(sorted(zones), ensure_ascii=False)],
            )

    def _zone_has_recipient(self, news_list: NewsList, zone: str) -> bool:
        """Whether a recipient of the list has this time zone as stored (by index)."""
        return (
            self._one(
                # CROSS JOIN: through subscribers_timezone, not the whole list.
                "SELECT 1 AS y FROM subscribers s CROSS JOIN subscriptions x"
                " ON x.subscriber_id = s.id AND x.list_id = ? AND x.status = 'active'"
                " WHERE s.timezone = ? AND s.status = 'active' AND s.paused_at IS NULL LIMIT 1",
                [news_list.id, zone],
            )
            is not None
        )
