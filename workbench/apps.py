"""URL parameters of the published apps: read from the query string, checked against what is allowed.

A Voila app takes its parameters from the URL (``?term=…&spec=…&lang=en``). Anyone who can open the
app can edit the URL, so every value is checked against a list of allowed choices before it is used:
a model is named, never given as a file path; the store and the models folder come from the server's
environment, never from the URL. ``token`` (the server's access token) is never read or echoed.

>>> query_values("term=2026-2027-1&lang=en&token=abc", {"term": "", "lang": "zh"}, {"lang": ["zh", "en"]})
{'term': '2026-2027-1', 'lang': 'en'}
>>> query_values("lang=fr", {"lang": "zh"}, {"lang": ["zh", "en"]})
Traceback (most recent call last):
...
workbench.apps.AppParamError: lang: 'fr' is not one of zh, en / 参数 lang 的取值 'fr' 无效，可选：zh、en
"""
from __future__ import annotations

from collections.abc import Iterable, Mapping
from urllib.parse import parse_qs

SECRET_KEYS = frozenset({"token"})


class AppParamError(ValueError):
    """A URL parameter with a value the app does not allow; ``zh`` and ``en`` say which and what is allowed."""

    def __init__(self, key: str, value: str, allowed: list[str]):
        shown = allowed[:12] + (["…"] if len(allowed) > 12 else [])
        self.key, self.value = key, value
        self.en = f"{key}: {value!r} is not one of {', '.join(shown)}"
        self.zh = f"参数 {key} 的取值 {value!r} 无效，可选：{'、'.join(shown)}"
        super().__init__(f"{self.en} / {self.zh}")

    def message(self, lang: str = "zh") -> str:
        return self.zh if lang == "zh" else self.en


def query_values(query: str | None, defaults: Mapping[str, str],
                 choices: Mapping[str, Iterable[str]] | None = None) -> dict[str, str]:
    """The app's parameters: ``defaults`` overridden by the query string (last value wins); keys the app
    does not take are ignored; a value outside ``choices[key]`` raises :class:`AppParamError`."""
    parsed = parse_qs((query or "").lstrip("?"), keep_blank_values=False)
    out = dict(defaults)
    for key in defaults:
        if key in SECRET_KEYS or key not in parsed:
            continue
        out[key] = parsed[key][-1].strip()
    for key, allowed in (choices or {}).items():
        allowed = [str(a) for a in allowed]
        if key in out and out[key] not in allowed:
            raise AppParamError(key, out[key], allowed)
    return out
