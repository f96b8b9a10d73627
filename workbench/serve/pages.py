"""The server's own pages: login, the list of a viewer's apps, refusal (403), not found (404), busy (503).

Plain HTML with one inline stylesheet and no script, image or external asset; the pages are sent with a
Content-Security-Policy that allows exactly that stylesheet (by its SHA-256), so nothing else can run on
them. Text comes from the zh/en catalogue (``workbench.labels``); ``lang`` is ``zh`` (default) or ``en``.

>>> status, html = refusal_page("en", "this class is outside your scope")
>>> status, "Access refused" in html, "<script" in html
(403, True, False)
>>> "style-src 'sha256-" in PAGE_CSP and "script-src" not in PAGE_CSP
True
"""
from __future__ import annotations

import base64
import hashlib
from html import escape
from urllib.parse import urlencode

from workbench.labels import ui
from workbench.privacy.roles import ROLES

STYLE = """
body{font-family:system-ui,"Noto Sans CJK SC","PingFang SC","Microsoft YaHei",sans-serif;margin:0;background:#f4f6f8;color:#1f2933}
main{max-width:28rem;margin:8vh auto;background:#fff;padding:2rem 2.2rem;border-radius:8px;box-shadow:0 2px 10px rgba(0,0,0,.08)}
h1{font-size:1.35rem;margin:0 0 1.2rem}
label{display:block;margin:.8rem 0 .3rem;font-size:.95rem}
input[type=text],input[type=password]{width:100%;box-sizing:border-box;padding:.55rem;font-size:1rem;border:1px solid #b8c2cc;border-radius:4px}
button{margin-top:1.2rem;width:100%;padding:.6rem;font-size:1rem;border:0;border-radius:4px;background:#1565c0;color:#fff;cursor:pointer}
.msg{padding:.6rem .8rem;border-radius:4px;margin-bottom:1rem;background:#fdecea;color:#8a1c12}
.note{background:#e8f1fb;color:#0b3c6f}
.meta{font-size:.85rem;color:#52606d;margin-top:1.4rem;display:flex;justify-content:space-between;gap:1rem}
ul{padding-left:1.2rem}li{margin:.5rem 0}a{color:#1565c0}
"""
_STYLE_HASH = base64.b64encode(hashlib.sha256(STYLE.encode()).digest()).decode()
PAGE_CSP = ("default-src 'none'; " f"style-src 'sha256-{_STYLE_HASH}'; " "form-action 'self'; "
            "frame-ancestors 'none'; base-uri 'none'")


def _page(lang: str, title: str, body: str, base_url: str = "/", *, logout: bool = False, switch: str = "") -> str:
    other = "en" if lang == "zh" else "zh"
    links = [f'<a href="{escape(switch or "?" + urlencode({"lang": other}))}" lang="{other}">{ui("sv_other_lang", lang)}</a>']
    if logout:
        links.append(f'<a href="{escape(base_url)}logout?lang={lang}" data-test="logout">{ui("sv_logout", lang)}</a>')
    html_lang = "zh-CN" if lang == "zh" else "en"
    return (f'<!DOCTYPE html><html lang="{html_lang}"><head><meta charset="utf-8">'
            f'<meta name="viewport" content="width=device-width, initial-scale=1">'
            f"<title>{escape(title)} · {ui('sv_title', lang)}</title><style>{STYLE}</style></head>"
            f"<body><main>{body}<div class=\"meta\">{''.join(links)}</div></main></body></html>")


def login_page(lang: str, *, error: str | None = None, note: str | None = None, next_url: str = "",
               xsrf_html: str = "", base_url: str = "/", login: str = "") -> tuple[int, str]:
    """The login form (POST to ``<base_url>login``); ``error``/``note`` are shown above it."""
    msg = (f'<p class="msg" data-test="login-error">{escape(error)}</p>' if error else "") + \
          (f'<p class="msg note" data-test="login-note">{escape(note)}</p>' if note else "")
    body = (f"<h1>{ui('sv_title', lang)} · {ui('sv_login', lang)}</h1>{msg}"
            f'<form method="post" action="{escape(base_url)}login" data-test="login-form">{xsrf_html}'
            f'<input type="hidden" name="next" value="{escape(next_url)}"><input type="hidden" name="lang" value="{lang}">'
            f'<label for="login">{ui("sv_login_name", lang)}</label>'
            f'<input type="text" id="login" name="login" value="{escape(login)}" autocomplete="username" required autofocus>'
            f'<label for="password">{ui("sv_password", lang)}</label>'
            f'<input type="password" id="password" name="password" autocomplete="current-password" required>'
            f'<button type="submit">{ui("sv_login", lang)}</button></form>')
    switch = "?" + urlencode({"lang": "en" if lang == "zh" else "zh", **({"next": next_url} if next_url else {})})
    return 200, _page(lang, ui("sv_login", lang), body, base_url, switch=switch)


def home_page(lang: str, login: str, role: str, apps: list[str], base_url: str = "/", switch: str = "") -> tuple[int, str]:
    """The apps the viewer's role may open (those present on this server), each a link."""
    spec = ROLES[role]
    items = "".join(f'<li><a href="{escape(base_url)}voila/render/{escape(a)}.ipynb?lang={lang}" data-test="app-{escape(a)}">'
                    f"{escape(ui('app_' + a, lang))}</a></li>" for a in apps)
    body = (f"<h1>{ui('sv_my_apps', lang)}</h1>"
            f'<p data-test="who">{escape(ui("sv_signed_in_as", lang, login=login, role=spec.label(lang)))}</p>'
            + (f"<ul>{items}</ul>" if apps else f"<p>{ui('sv_no_apps', lang)}</p>"))
    return 200, _page(lang, ui("sv_my_apps", lang), body, base_url, logout=True, switch=switch)


def refusal_page(lang: str, reason: str, base_url: str = "/", switch: str = "") -> tuple[int, str]:
    """HTTP 403 with the reason (which says what was refused, never whose data). ``switch``: the same URL in the
    other language (the pages' language link)."""
    body = (f"<h1>{ui('sv_refused', lang)}</h1><p class=\"msg\" data-test=\"refused\">{escape(reason)}</p>"
            f'<p><a href="{escape(base_url)}?lang={lang}">{ui("sv_back", lang)}</a></p>')
    return 403, _page(lang, ui("sv_refused", lang), body, base_url, logout=True, switch=switch)


def not_found_page(lang: str, base_url: str = "/", switch: str = "") -> tuple[int, str]:
    body = (f"<h1>{ui('sv_not_found', lang)}</h1>"
            f'<p><a href="{escape(base_url)}?lang={lang}">{ui("sv_back", lang)}</a></p>')
    return 404, _page(lang, ui("sv_not_found", lang), body, base_url, logout=True, switch=switch)


def busy_page(lang: str, base_url: str = "/", switch: str = "") -> tuple[int, str]:
    """HTTP 503: the cap on live kernels is reached."""
    body = f"<h1>{ui('sv_busy', lang)}</h1><p class=\"msg note\" data-test=\"busy\">{ui('sv_busy_text', lang)}</p>"
    return 503, _page(lang, ui("sv_busy", lang), body, base_url, logout=True, switch=switch)
