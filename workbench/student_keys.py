"""Student pseudonyms: their form, made and read without the store (the serving gate reads them, and needs no pandas).

A key is ``S`` + the first 64 bits of HMAC-SHA256(pseudonym key, anchor) as 11 base-62 digits: 12 characters, what
DuckDB keeps inline in a string, so a GROUP BY over a term's events hashes and compares it without following a
pointer (100,000 students: every indicator 30–31 s with 25-character keys, 25–26 s with these). Stores made before
keep their keys, ``S`` + 24 hex digits; every part accepts both (:func:`is_student_key`), and :func:`key_hex` reads
both the same way, so a student keeps his display code.
"""
from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Container

KEY_CHARS = 11   # base-62 digits after the S: the first 64 bits of the HMAC (62**11 > 2**64)
KEY_ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
LEGACY_KEY_HEX = 24   # keys of stores made before: S + 24 hex digits
_LEGACY_KEY = re.compile(r"^S[0-9a-f]{%d}$" % LEGACY_KEY_HEX)
_KEY = re.compile(r"^S[0-9A-Za-z]{%d}$" % KEY_CHARS)


def pseudonym(key: bytes, anchor: str) -> str:
    """``S`` + the first 64 bits of HMAC-SHA256(key, anchor) as 11 base-62 digits (12 characters in all)."""
    n = int.from_bytes(hmac.new(key, anchor.encode("utf-8"), hashlib.sha256).digest()[:8], "big")
    digits = []
    for _ in range(KEY_CHARS):
        n, d = divmod(n, 62)
        digits.append(KEY_ALPHABET[d])
    return "S" + "".join(reversed(digits))


def fresh_pseudonym(key: bytes, anchor: str, taken: Container[str]) -> str:
    """The pseudonym of a new student: :func:`pseudonym` of the anchor, or, in the (≈ 3e-8 for a million students)
    case that another student already has it, of ``anchor#2``, ``anchor#3`` … — never two students on one key.
    The vault keeps the anchor itself; a key is never derived again from it."""
    k, n = pseudonym(key, anchor), 1
    while k in taken:
        n += 1
        k = pseudonym(key, f"{anchor}#{n}")
    return k


def is_student_key(text: object) -> bool:
    """Whether ``text`` is a pseudonym: ``S`` + 11 base-62 digits, or a store's older ``S`` + 24 hex digits."""
    return isinstance(text, str) and bool(_KEY.match(text) or _LEGACY_KEY.match(text))


def key_hex(student_key: str) -> str:
    """The hex digits of a pseudonym's bits (16; an older key's own 24), the same leading digits in either form for
    one anchor and key: display codes (``S-`` + 6 of them) are made of these."""
    if _KEY.match(student_key):
        n = 0
        for c in student_key[1:]:
            n = n * 62 + KEY_ALPHABET.index(c)
        return f"{n:016x}"
    return student_key[1:] if student_key.startswith("S") else student_key
