"""Settings, loaded once: defaults < TOML file < DIGEST_* environment < command-line options."""

from __future__ import annotations

import os
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, fields, replace
from pathlib import Path
from urllib.parse import urlsplit

from digest.errors import ConfigError

CONFIG_FILE = "digest.toml"
MIN_KEEP_DAYS = 7  # the ledger `digest prune` never folds: retries, catch-up, hourly limit


@dataclass(frozen=True, slots=True)
class Settings:
    """Every setting, its default and its meaning (the README's configuration table)."""

    db: Path = Path("subscribers.db")  # DIGEST_DB: the SQLite file
    smtp_url: str = "smtp://127.0.0.1:1025"  # DIGEST_SMTP_URL: where mail goes
    smtp_password: str = ""  # DIGEST_SMTP_PASSWORD: overrides the URL's password
    smtp_ca_file: str = ""  # DIGEST_SMTP_CA_FILE: extra CA/cert to trust for TLS
    base_url: str = "http://127.0.0.1:8000"  # DIGEST_BASE_URL: public origin for links
    templates: Path | None = None  # DIGEST_TEMPLATES: folder overriding theme files
    outbox: Path = Path("outbox")  # DIGEST_OUTBOX: where dry runs and the sink write .eml
    # Delivery (issue 5): retries, List-Unsubscribe mailto, Feedback-ID, DKIM.
    retry_base: float = 30.0  # DIGEST_RETRY_BASE: seconds before the first retry (doubling)
    retry_max: float = 3600.0  # DIGEST_RETRY_MAX: longest pause between two attempts
    retry_window: float = 600.0  # DIGEST_RETRY_WINDOW: how long one run waits for retries
    busy_timeout: float = 30.0  # DIGEST_BUSY_TIMEOUT: seconds a writer waits for another's lock
    soft_bounce_limit: int = 3  # DIGEST_SOFT_BOUNCE_LIMIT: soft bounces (editions) to bounced
    unsubscribe_mailto: str = ""  # DIGEST_UNSUBSCRIBE_MAILTO: address for mailto unsubscribe
    feedback_id: str = ""  # DIGEST_FEEDBACK_ID: sender id for the Feedback-ID header
    dkim_key_file: Path | None = None  # DIGEST_DKIM_KEY_FILE: PEM private key; signs mail
    dkim_selector: str = ""  # DIGEST_DKIM_SELECTOR: the DNS selector of that key
    dkim_domain: str = ""  # DIGEST_DKIM_DOMAIN: signing domain [default: the From domain]
    editor_password: str = ""  # DIGEST_EDITOR_PASSWORD: guards previews under `serve --public`
    rate_limit: int = 30  # DIGEST_RATE_LIMIT: bad tokens a minute per client before 429
    # Readers' sign-ups (issue 13).
    signup_resend: float = 3600.0  # DIGEST_SIGNUP_RESEND: seconds between two confirmations
    signup_expiry: float = 7 * 86400.0  # DIGEST_SIGNUP_EXPIRY: seconds a confirmation link lasts
    signup_challenge: str = "on"  # DIGEST_SIGNUP_CHALLENGE: ALTCHA proof of work on the form
    signup_welcome: str = "off"  # DIGEST_SIGNUP_WELCOME: one welcome mail after confirming
    # Approval (issue 14): proofs mailed to a list's editors before the due moment.
    proof_hours: int = 3  # DIGEST_PROOF_HOURS: hours before the due moment; 0: no proofs
    # The theme (render.Theme): what a site changes without touching templates.
    theme_name: str = ""  # DIGEST_THEME_NAME: name in the header/subject (default: the list's)
    theme_logo_url: str = ""  # DIGEST_THEME_LOGO_URL: https URL of a logo shown in the header
    theme_logo_size: str = "160x40"  # DIGEST_THEME_LOGO_SIZE: the logo's WIDTHxHEIGHT in px
    theme_accent: str = "#b3261e"  # DIGEST_THEME_ACCENT: links and rules, #rrggbb
    theme_footer: str = ""  # DIGEST_THEME_FOOTER: a line of text above the postal address
    theme_address: str = ""  # DIGEST_THEME_ADDRESS: postal address of lists that give none
    html_budget_kb: int = 96  # DIGEST_HTML_BUDGET_KB: inlined HTML limit; cut articles beyond
    ledger_keep_days: int = 90  # DIGEST_LEDGER_KEEP_DAYS: `digest prune` folds older editions
    bounce_address: str = ""  # DIGEST_BOUNCE_ADDRESS: VERP envelope sender, bounces+TOKEN@...
    bounce_imap_url: str = ""  # DIGEST_BOUNCE_IMAP_URL: imaps://user:pass@host/FOLDER to fetch
    # Provider webhooks under `serve --public`; each route exists only when its setting is set.
    mailgun_signing_key: str = ""  # DIGEST_MAILGUN_SIGNING_KEY: Mailgun's webhook signing key
    postmark_webhook_auth: str = ""  # DIGEST_POSTMARK_WEBHOOK_AUTH: user:pass in Postmark's URL
    sendgrid_public_key: str = ""  # DIGEST_SENDGRID_PUBLIC_KEY: base64 DER key SendGrid shows
    ses_topic_arns: str = ""  # DIGEST_SES_TOPIC_ARNS: SNS topic ARNs accepted, comma-separated
    webhook_max_age: float = 900.0  # DIGEST_WEBHOOK_MAX_AGE: seconds a signed post stays valid
    # Events out (issue 15): signed JSON posts from the durable outbox.
    webhook_url: str = ""  # DIGEST_WEBHOOK_URL: where events are posted; unset: none kept
    webhook_secret: str = ""  # DIGEST_WEBHOOK_SECRET: signing key [default: from the secret]
    webhook_timeout: float = 10.0  # DIGEST_WEBHOOK_TIMEOUT: seconds one post may take
    webhook_retry_hours: float = 24.0  # DIGEST_WEBHOOK_RETRY_HOURS: retrying, then failed
    # Not a setting: whether base_url came from the file, the environment or an option.
    # A real send refuses the loopback default (links nobody can open).
    base_url_set: bool = False

    @property
    def secret_file(self) -> Path:
        return self.db.with_name(self.db.name + ".secret")


_DERIVED_FIELDS = {"base_url_set"}  # computed here, never read from DIGEST_* or the file
_PATH_FIELDS = {"db", "templates", "outbox", "dkim_key_file"}
_FLOAT_FIELDS = {
    "retry_base",
    "retry_max",
    "retry_window",
    "signup_resend",
    "signup_expiry",
    "busy_timeout",
    "webhook_max_age",
    "webhook_timeout",
    "webhook_retry_hours",
}
_INT_FIELDS = {
    "rate_limit",
    "html_budget_kb",
    "soft_bounce_limit",
    "ledger_keep_days",
    "proof_hours",
}


def load_settings(
    env: Mapping[str, str] | None = None,
    overrides: Mapping[str, object] | None = None,
    cwd: Path | None = None,
) -> Settings:
    """Build Settings from a TOML file, the environment and explicit overrides."""
    env = os.environ if env is None else env
    cwd = Path.cwd() if cwd is None else cwd
    values: dict[str, object] = {}
    known = {f.name for f in fields(Settings)} - _DERIVED_FIELDS

    config_path = Path(env["DIGEST_CONFIG"]) if env.get("DIGEST_CONFIG") else cwd / CONFIG_FILE
    if env.get("DIGEST_CONFIG") and not config_path.is_file():
        raise ConfigError(f"config file {config_path} not found", hint="fix or unset DIGEST_CONFIG")
    if config_path.is_file():
        try:
            data = tomllib.loads(config_path.read_text(encoding="utf-8"))
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
            raise ConfigError(
                f"{config_path}: {exc}", hint="the file must be valid UTF-8 TOML"
            ) from None
        for key, value in data.items():
            if key not in known:
                raise ConfigError(
                    f"{config_path}: unknown setting {key!r}",
                    hint="known settings: " + ", ".join(sorted(known)),
                )
            values[key] = value
    for name in known:
        env_value = env.get("DIGEST_" + name.upper())
        if env_value:
            values[name] = env_value
    for key, value in (overrides or {}).items():
        if value is not None:
            values[key] = value

    values["base_url_set"] = bool(values.get("base_url"))
    for key in _PATH_FIELDS & values.keys():
        values[key] = Path(str(values[key])).expanduser()
    for key in _FLOAT_FIELDS & values.keys():
        try:
            values[key] = float(str(values[key]))
        except ValueError:
            raise ConfigError(
                f"{key} must be a number of {'hours' if key.endswith('_hours') else 'seconds'},"
                f" got {values[key]!r}",
                hint=f"set DIGEST_{key.upper()} to e.g. 30",
            ) from None
        if values[key] < 0:  # type: ignore[operator]
            raise ConfigError(f"{key} cannot be negative", hint=f"fix DIGEST_{key.upper()}")
    for key in _INT_FIELDS & values.keys():
        try:
            values[key] = int(str(values[key]))
        except ValueError:
            raise ConfigError(
                f"DIGEST_{key.upper()} must be a whole number, got {values[key]!r}",
                hint="for example 30",
            ) from None
    settings = replace(Settings(), **values)  # type: ignore[arg-type]
    _validate(settings)
    return settings


_MULTILINE_FIELDS = {"theme_footer"}  # text in the page body, never in a header


def _validate(settings: Settings) -> None:
    for item in fields(Settings):
        value = getattr(settings, item.name)
        if item.name in _MULTILINE_FIELDS or not isinstance(value, str):
            continue
        bad = next((c for c in value if (ord(c) < 32 and c != "\t") or c == "\x7f"), None)
        if bad is not None:
            raise ConfigError(
                f"DIGEST_{item.name.upper()} must be one line, but it contains {bad!r}",
                hint="remove the line break or control character: in a setting that ends "
                "up in mail headers it would add a header line to every message",
            )
    scheme = urlsplit(settings.smtp_url).scheme
    if scheme not in ("smtp", "smtps"):
        raise ConfigError(
            f"DIGEST_SMTP_URL must start with smtp:// or smtps://, got {settings.smtp_url!r}",
            hint="for example smtp://user:pass@mail.example.com:587?starttls=true",
        )
    if settings.rate_limit < 1:
        raise ConfigError(
            f"DIGEST_RATE_LIMIT must be at least 1, got {settings.rate_limit}",
            hint="requests a minute per client address; the default is 30",
        )
    if settings.signup_challenge not in ("on", "off"):
        raise ConfigError(
            f"DIGEST_SIGNUP_CHALLENGE must be on or off, got {settings.signup_challenge!r}",
            hint="off only for a site that protects its sign-up form in another way",
        )
    if settings.signup_welcome not in ("on", "off"):
        raise ConfigError(
            f"DIGEST_SIGNUP_WELCOME must be on or off, got {settings.signup_welcome!r}",
            hint="on sends one welcome mail after a reader confirms a sign-up",
        )
    if not 0 <= settings.proof_hours <= 48:
        raise ConfigError(
            f"DIGEST_PROOF_HOURS must be between 0 and 48, got {settings.proof_hours}",
            hint="hours before the due moment that editors get a proof; 0 sends none",
        )
    if settings.soft_bounce_limit < 1:
        raise ConfigError(
            f"DIGEST_SOFT_BOUNCE_LIMIT must be at least 1, got {settings.soft_bounce_limit}",
            hint="soft bounces on distinct editions before an address counts as bounced;"
            " the default is 3",
        )
    if settings.html_budget_kb < 10:
        raise ConfigError(
            f"DIGEST_HTML_BUDGET_KB must be at least 10, got {settings.html_budget_kb}",
            hint="Gmail clips at about 102 KB; the default 96 leaves room for personalisation",
        )
    if settings.ledger_keep_days < MIN_KEEP_DAYS:
        raise ConfigError(
            f"DIGEST_LEDGER_KEEP_DAYS must be at least {MIN_KEEP_DAYS},"
            f" got {settings.ledger_keep_days}",
            hint="retries, catch-up runs and late bounces need the recent ledger; default 90",
        )
    if settings.bounce_address:
        local, at, domain = settings.bounce_address.rpartition("@")
        if (
            not at
            or not local
            or not domain
            or "+" in local
            or not settings.bounce_address.isascii()
        ):
            raise ConfigError(
                f"DIGEST_BOUNCE_ADDRESS must be a plain ASCII address without '+',"
                f" got {settings.bounce_address!r}",
                hint="for example bounces@news.example.com (its server must deliver"
                " bounces+anything@ to it)",
            )
    _validate_webhooks(settings)
    if settings.webhook_url:
        hook = urlsplit(settings.webhook_url)
        if hook.scheme not in ("http", "https") or not hook.hostname:
            raise ConfigError(
                f"DIGEST_WEBHOOK_URL must be an http(s) URL, got {settings.webhook_url!r}",
                hint="for example https://crm.example.com/hooks/digest",
            )
    if settings.webhook_url and settings.webhook_timeout <= 0:
        raise ConfigError(
            "DIGEST_WEBHOOK_TIMEOUT must be more than 0 seconds",
            hint="seconds one post may take; the default is 10",
        )
    base = urlsplit(settings.base_url)
    if base.scheme not in ("http", "https") or not base.netloc:
        raise ConfigError(
            f"DIGEST_BASE_URL must be an http(s) origin, got {settings.base_url!r}",
            hint="for example https://news.example.com",
        )
    from digest.render.theme import Theme  # validates colour, logo URL and size

    Theme(
        name=settings.theme_name,
        logo_url=settings.theme_logo_url,
        logo_size=settings.theme_logo_size,
        accent=settings.theme_accent,
        footer=settings.theme_footer,
        address=settings.theme_address,
    )


SES_TOPIC_ARN = re.compile(r"arn:aws(-[a-z]+)*:sns:[a-z0-9-]+:\d{12}:[A-Za-z0-9_.-]{1,256}")


def ses_topic_arns(settings: Settings) -> frozenset[str]:
    return frozenset(a.strip() for a in settings.ses_topic_arns.split(",") if a.strip())


def _validate_webhooks(settings: Settings) -> None:
    auth = settings.postmark_webhook_auth
    if auth and (":" not in auth or not auth.partition(":")[0] or not auth.partition(":")[2]):
        raise ConfigError(
            "DIGEST_POSTMARK_WEBHOOK_AUTH must be USER:PASSWORD",
            hint="make up both; give Postmark https://USER:PASSWORD@your.site/webhooks/postmark",
        )
    if settings.sendgrid_public_key:
        from digest.provider import sendgrid_public_key_ok

        if not sendgrid_public_key_ok(settings.sendgrid_public_key):
            raise ConfigError(
                "DIGEST_SENDGRID_PUBLIC_KEY is not a base64 DER elliptic-curve public key",
                hint="copy the Verification Key from SendGrid's Signed Event Webhook settings",
            )
    for arn in ses_topic_arns(settings):
        if not SES_TOPIC_ARN.fullmatch(arn):
            raise ConfigError(
                f"DIGEST_SES_TOPIC_ARNS: {arn!r} is not an SNS topic ARN",
                hint="for example arn:aws:sns:eu-west-1:123456789012:ses-bounces",
            )
    if settings.webhook_max_age < 30:
        raise ConfigError(
            f"DIGEST_WEBHOOK_MAX_AGE must be at least 30 seconds, got {settings.webhook_max_age:g}",
            hint="how old a signed webhook post may be; the default is 900",
        )
