"""HTML of the subscriber pages, in the subscriber's language (en, fr, ar; English otherwise)."""

from __future__ import annotations

from typing import Any

import jinja2

TEXTS: dict[str, dict[str, str]] = {
    "en": {
        "dir": "ltr",
        "unsubscribe_title": "Unsubscribe",
        "unsubscribe_confirm": "Stop receiving {list}?",
        "unsubscribe_button": "Unsubscribe",
        "unsubscribed_title": "You are unsubscribed",
        "unsubscribed_body": "You will receive no more emails from {list}.",
        "change_mind": "Changed your mind, or want only some sections? Open your preferences.",
        "preferences_title": "Your email preferences",
        "preferences_for": "Emails sent to {email}",
        "receive": "Receive {list}",
        "sections_hint": "Sections (none ticked: all of them)",
        "pause": "Pause all emails until I come back here",
        "save": "Save",
        "leave_all": "Leave all lists",
        "saved": "Saved.",
        "left_all": "You have left every list. You will receive no more emails from us.",
        "archive_title": "{list}: past editions",
        "archive_empty": "No editions yet.",
        "not_found": "This link is not valid.",
        "bad_request": "This request is not valid.",
        "forbidden": "This form cannot be sent from another site, or it has expired. "
        "Reload the page and try again.",
        "too_many": "Too many requests. Try again in a minute.",
        "missing_one_click": "Missing List-Unsubscribe=One-Click.",
    },
    "fr": {
        "dir": "ltr",
        "unsubscribe_title": "Désinscription",
        "unsubscribe_confirm": "Ne plus recevoir {list} ?",
        "unsubscribe_button": "Me désinscrire",
        "unsubscribed_title": "Vous êtes désinscrit",
        "unsubscribed_body": "Vous ne recevrez plus de courriels de {list}.",
        "change_mind": "Vous avez changé d'avis, ou ne voulez que certaines rubriques ? "
        "Ouvrez vos préférences.",
        "preferences_title": "Vos préférences",
        "preferences_for": "Courriels envoyés à {email}",
        "receive": "Recevoir {list}",
        "sections_hint": "Rubriques (aucune cochée : toutes)",
        "pause": "Suspendre tous les envois jusqu'à mon retour ici",
        "save": "Enregistrer",
        "leave_all": "Quitter toutes les listes",
        "saved": "Enregistré.",
        "left_all": "Vous avez quitté toutes les listes. Vous ne recevrez plus de courriels.",
        "archive_title": "{list} : éditions précédentes",
        "archive_empty": "Aucune édition pour le moment.",
        "not_found": "Ce lien n'est pas valide.",
        "bad_request": "Cette requête n'est pas valide.",
        "forbidden": "Ce formulaire ne peut pas être envoyé depuis un autre site, ou il a "
        "expiré. Rechargez la page et réessayez.",
        "too_many": "Trop de requêtes. Réessayez dans une minute.",
        "missing_one_click": "List-Unsubscribe=One-Click manquant.",
    },
    "ar": {
        "dir": "rtl",
        "unsubscribe_title": "إلغاء الاشتراك",
        "unsubscribe_confirm": "هل تريد التوقف عن تلقي {list}؟",
        "unsubscribe_button": "إلغاء الاشتراك",
        "unsubscribed_title": "تم إلغاء اشتراكك",
        "unsubscribed_body": "لن تتلقى بعد الآن أي رسائل من {list}.",
        "change_mind": "هل غيرت رأيك أو تريد بعض الأقسام فقط؟ افتح تفضيلاتك.",
        "preferences_title": "تفضيلات البريد الإلكتروني",
        "preferences_for": "الرسائل المرسلة إلى {email}",
        "receive": "تلقي {list}",
        "sections_hint": "الأقسام (إذا لم تحدد شيئا: كل الأقسام)",
        "pause": "إيقاف كل الرسائل مؤقتا حتى أعود إلى هنا",
        "save": "حفظ",
        "leave_all": "مغادرة كل القوائم",
        "saved": "تم الحفظ.",
        "left_all": "لقد غادرت كل القوائم. لن تتلقى منا أي رسائل بعد الآن.",
        "archive_title": "{list}: الأعداد السابقة",
        "archive_empty": "لا توجد أعداد بعد.",
        "not_found": "هذا الرابط غير صالح.",
        "bad_request": "هذا الطلب غير صالح.",
        "forbidden": "لا يمكن إرسال هذا النموذج من موقع آخر، أو انتهت صلاحيته. أعد تحميل الصفحة.",
        "too_many": "طلبات كثيرة جدا. حاول مرة أخرى بعد دقيقة.",
        "missing_one_click": "List-Unsubscribe=One-Click مفقود.",
    },
}


def texts(locale: str) -> dict[str, str]:
    language = (locale or "en").replace("_", "-").split("-")[0].lower()
    return TEXTS.get(language, TEXTS["en"])


_LAYOUT = """<!doctype html>
<html lang="{{ lang }}" dir="{{ t.dir }}">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="robots" content="noindex">
<title>{{ title }}</title>
<style>
body{font:16px/1.5 system-ui,sans-serif;max-width:36rem;margin:2rem auto;padding:0 1rem;color:#222}
button{font:inherit;padding:.5rem 1rem;margin:.25rem 0;cursor:pointer}
fieldset{border:1px solid #ccc;margin:1rem 0}
.notice{background:#eef6ee;padding:.5rem 1rem}
.sections label{display:block;margin-inline-start:1.5rem}
</style>
</head>
<body>
<h1>{{ title }}</h1>
{% block body %}{% endblock %}
</body>
</html>
"""

_TEMPLATES = {
    "layout.html": _LAYOUT,
    "message.html": """{% extends "layout.html" %}{% block body %}
<p>{{ message }}</p>
{% if link %}<p><a href="{{ link }}">{{ link_text }}</a></p>{% endif %}
{% endblock %}""",
    "unsubscribe.html": """{% extends "layout.html" %}{% block body %}
<form method="post" action="">
<input type="hidden" name="List-Unsubscribe" value="One-Click">
<p>{{ t.unsubscribe_confirm.format(list=list_name) }}</p>
<button type="submit">{{ t.unsubscribe_button }}</button>
</form>
{% endblock %}""",
    "preferences.html": """{% extends "layout.html" %}{% block body %}
{% if notice %}<p class="notice" role="status">{{ notice }}</p>{% endif %}
<p>{{ t.preferences_for.format(email=email) }}</p>
<form method="post" action="">
<input type="hidden" name="form_token" value="{{ form_token }}">
{% for sub in subscriptions %}
<fieldset>
<legend><label><input type="checkbox" name="list:{{ sub.news_list.slug }}" value="on"
{%- if sub.status == "active" %} checked{% endif %}>
{{ t.receive.format(list=sub.news_list.name) }}</label></legend>
{% if sub.news_list.sections %}
<div class="sections"><p>{{ t.sections_hint }}</p>
{% for section in sub.news_list.sections %}
<label><input type="checkbox" name="sections:{{ sub.news_list.slug }}" value="{{ section }}"
{%- if not sub.sections or section in sub.sections %} checked{% endif %}> {{ section }}</label>
{% endfor %}</div>
{% endif %}
</fieldset>
{% endfor %}
<p><label><input type="checkbox" name="pause" value="on"{% if paused %} checked{% endif %}>
{{ t.pause }}</label></p>
<button type="submit" name="action" value="save">{{ t.save }}</button>
<button type="submit" name="action" value="leave">{{ t.leave_all }}</button>
</form>
{% endblock %}""",
    "archive.html": """{% extends "layout.html" %}{% block body %}
{% if dates %}<ul>
{% for day in dates %}<li><a href="{{ day.isoformat() }}">{{ day.isoformat() }}</a></li>
{% endfor %}</ul>{% else %}<p>{{ t.archive_empty }}</p>{% endif %}
{% endblock %}""",
}

_env = jinja2.Environment(
    loader=jinja2.DictLoader(_TEMPLATES),
    autoescape=True,
    undefined=jinja2.StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
)


def render_page(name: str, *, locale: str, title: str, **context: Any) -> str:
    t = texts(locale)
    lang = (locale or "en").replace("_", "-") if t is not TEXTS["en"] else "en"
    defaults: dict[str, Any] = {"link": "", "link_text": "", "notice": ""}
    return _env.get_template(name).render(
        {**defaults, **context, "t": t, "lang": lang, "title": title}
    )
