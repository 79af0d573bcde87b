"""Keyed pseudonyms: the only form in which identifiers leave the parser.

HMAC-SHA256 with a secret key, so that two institutions sharing the same key
can match agents (same phone -> same pseudonym) while nobody without the key
can reverse or dictionary-attack a phone number (11-digit phones are easy to
enumerate against a plain hash; they are not against a keyed HMAC).
Values are normalised first so trivial reformatting does not split a key.
"""
from __future__ import annotations

import hashlib
import hmac
import os
import re
import unicodedata

__all__ = ["Pseudonymizer", "DEV_KEY", "KEY_ENV", "MissingKeyError", "normalise_value"]

KEY_ENV = "SURGEWATCH_PSEUDONYM_KEY"
DEV_KEY = "surgewatch-development-key-not-for-production"
DIGEST_HEX = 16  # 64 bits: collisions are negligible at any realistic key count

_NON_DIGIT = re.compile(r"\D+")
_SPACE = re.compile(r"\s+")


class MissingKeyError(RuntimeError):
    """Raised when production mode starts without a pseudonym key."""


def normalise_value(kind: str, value: str) -> str:
    """Canonical form of a contact value, so formatting variants collide.

    Phones keep digits only and drop a leading country code 86 / 0086;
    emails and wechat ids are case-folded; everything is NFKC-normalised
    (full-width digits become ASCII) with white space removed.
    """
    v = unicodedata.normalize("NFKC", value).strip()
    if kind == "phone":
        digits = _NON_DIGIT.sub("", v)
        if digits.startswith("0086"):
            digits = digits[4:]
        elif digits.startswith("86") and len(digits) == 13:
            digits = digits[2:]
        return digits or v
    v = _SPACE.sub("", v)
    if kind in ("email", "wechat"):
        return v.casefold()
    return v


class Pseudonymizer:
    """Turns (namespace, value) into ``namespace:<hex>`` with a keyed HMAC."""

    __slots__ = ("_key", "_cache", "_cache_max")

    def __init__(self, key: str | bytes, cache_max: int = 65536) -> None:
        if not key:
            raise MissingKeyError(f"pseudonym key is empty; set {KEY_ENV}")
        self._key = key.encode() if isinstance(key, str) else key
        self._cache: dict[tuple[str, str], str] = {}
        self._cache_max = cache_max

    @classmethod
    def from_env(cls, allow_dev_key: bool = False) -> "Pseudonymizer":
        """Key from ``SURGEWATCH_PSEUDONYM_KEY``; the fixed dev key only if allowed."""
        key = os.environ.get(KEY_ENV, "")
        if not key:
            if not allow_dev_key:
                raise MissingKeyError(
                    f"{KEY_ENV} is not set: surgewatch will not process personal data "
                    "without a pseudonym key. Set it to a long random secret "
                    "(e.g. `openssl rand -hex 32`), the same for every instance that must match agents."
                )
            key = DEV_KEY
        return cls(key)

    @property
    def is_dev_key(self) -> bool:
        return self._key == DEV_KEY.encode()

    def __call__(self, namespace: str, value: str) -> str:
        norm = normalise_value(namespace, value)
        ck = (namespace, norm)
        hit = self._cache.get(ck)
        if hit is not None:
            return hit
        digest = hmac.new(self._key, f"{namespace}\x00{norm}".encode(), hashlib.sha256).hexdigest()
        out = f"{namespace}:{digest[:DIGEST_HEX]}"
        if len(self._cache) >= self._cache_max:
            self._cache.clear()  # cheap bound; the cache is only an accelerator
        self._cache[ck] = out
        return out

    def __getstate__(self):  # never pickle the secret into a checkpoint
        raise TypeError("Pseudonymizer holds a secret key and is not picklable")
