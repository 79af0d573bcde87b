"""Keyed pseudonyms: the only form in which identifiers leave the parser.

HMAC-SHA256 with a secret key, so that two institutions sharing the same key
can match agents (same phone -> same pseudonym) while nobody without the key
can reverse or dictionary-attack a phone number (11-digit phones are easy to
enumerate against a plain hash; they are not against a keyed HMAC).
Values are normalised first so trivial reformatting does not split a key.
"""
from __future__ import annotations

import hashlib
import os
import re
import unicodedata

__all__ = ["Pseudonymizer", "DEV_KEY", "KEY_ENV", "MissingKeyError", "normalise_value"]

KEY_ENV = "SURGEWATCH_PSEUDONYM_KEY"
DEV_KEY = "surgewatch-development-key-not-for-production"
DIGEST_HEX = 16  # 64 bits: collisions are negligible at any realistic key count

_NON_DIGIT = re.compile(r"\D+")

#: namespaces whose HMAC states are prepared up front (see ``Pseudonymizer``): the
#: complainant id and every contact kind of the contract; a fixed, small set
PREFIXED_NAMESPACES = ("cust", "phone", "email", "wechat", "address", "representative", "organization")


# The states copied per value. CPython's own SHA-256 (the module ``hashlib``
# falls back to without OpenSSL) is preferred: the value is under two 64-byte
# blocks, so per-call cost is object handling, not hashing, and copying its
# state is a plain struct copy, whereas OpenSSL 3 allocates, copies and
# cleanses an EVP context for each of the four copies an HMAC here makes
# (about 15 % less per HMAC, measured). The digest is the same SHA-256, bit for
# bit (tests compare every pseudonym with ``hmac.new``). The module is private
# and was renamed in 3.12, hence the chain of fallbacks.
try:
    from _sha256 import sha256 as _sha256  # CPython <= 3.11
except ImportError:  # pragma: no cover - depends on the interpreter
    try:
        from _sha2 import sha256 as _sha256  # CPython >= 3.12
    except ImportError:
        _sha256 = hashlib.sha256


def _hmac_states(key: bytes) -> tuple["hashlib._Hash", "hashlib._Hash"]:
    """SHA-256 states that have absorbed ``key XOR ipad`` / ``key XOR opad`` (RFC 2104).

    A key longer than the 64-byte block is hashed first, as ``hmac`` does.
    """
    block = 64  # SHA-256 block size
    if len(key) > block:
        key = hashlib.sha256(key).digest()
    key = key.ljust(block, b"\0")
    inner = _sha256(bytes(b ^ 0x36 for b in key))
    outer = _sha256(bytes(b ^ 0x5C for b in key))
    return inner, outer


class MissingKeyError(RuntimeError):
    """Raised when production mode starts without a pseudonym key."""


def normalise_value(kind: str, value: str) -> str:
    """Canonical form of a contact value, so formatting variants collide.

    Phones keep digits only and drop a leading country code 86 / 0086;
    emails and wechat ids are case-folded; everything is NFKC-normalised
    (full-width digits become ASCII) with white space removed.

    Most values on the wire are plain ASCII, which NFKC never changes, so the
    Unicode normalisation (the dearest step) is skipped for them; a phone that
    is already all ASCII digits, or an ASCII value without white space, needs
    no clean-up at all.
    ``"".join(v.split())`` removes exactly the white space the former ``\\s+``
    regex did (both use ``str.isspace``; tests check every code point).
    """
    if value.isascii():
        if kind == "phone":
            if value.isdigit():
                if value[:1] != "0" and value[:1] != "8":  # no country code to drop
                    return value
                if value.startswith("0086"):
                    return value[4:] or value
                if value.startswith("86") and len(value) == 13:
                    return value[2:]
                return value
        elif value.isprintable() and " " not in value:
            # in ASCII every white-space character but " " is a control
            # character, so this value has no white space to remove
            return value.casefold() if kind in ("email", "wechat") else value
        v = value
    else:
        v = unicodedata.normalize("NFKC", value)
    if kind == "phone":
        v = v.strip()
        digits = _NON_DIGIT.sub("", v)
        if digits.startswith("0086"):
            digits = digits[4:]
        elif digits.startswith("86") and len(digits) == 13:
            digits = digits[2:]
        return digits or v
    v = "".join(v.split())
    if kind in ("email", "wechat"):
        return v.casefold()
    return v


class Pseudonymizer:
    """Turns (namespace, value) into ``namespace:<hex>`` with a keyed HMAC.

    The HMAC is HMAC-SHA256 exactly as ``hmac.new(key, msg, sha256)`` computes
    it (RFC 2104), but the key-dependent first block of the inner and outer
    hash is absorbed once here and each call continues from a ``.copy()`` of
    those states: a third of the cost of ``hmac.new`` per value, same bits
    (tests compare against ``hmac`` for many keys and values).

    The namespaces the parser uses (``cust`` and the contact kinds) go one
    step further: their states have also absorbed ``namespace + "\\x00"``,
    the fixed start of every message, and the ``"namespace:"`` label of the
    result is pre-built; ``pseudonym`` then only hashes the normalised value.
    Any other namespace (a dead letter may quote a kind nobody validated)
    takes the general path. Same bits either way (tests compare both with
    ``hmac.new``). The parser calls the method ``pseudonym`` by name rather
    than the instance: calling an instance goes through ``type.__call__``'s
    generic slot (a method lookup and an argument copy per call), a method
    call by name is specialised by the interpreter.

    There is deliberately no memo of raw value -> pseudonym. One was tried:
    on the simulated streams only 3-4 % of calls repeat a (namespace, value)
    (complainants and their phones are mostly distinct), a hit saves ~1.3 us
    but every miss paid ~0.3 us to store the entry (a growing dict of
    GC-tracked tuple keys), so the memo cost ~0.3 us per call net and would
    only break even above a ~20 % repeat rate. It also kept raw PII in memory
    for no gain.
    """

    __slots__ = ("_key", "_inner", "_outer", "_prefixed")

    def __init__(self, key: str | bytes) -> None:
        if not key:
            raise MissingKeyError(f"pseudonym key is empty; set {KEY_ENV}")
        self._key = key.encode() if isinstance(key, str) else key
        self._inner, self._outer = _hmac_states(self._key)
        self._prefixed: dict[str, tuple["hashlib._Hash", str]] = {}
        for ns in PREFIXED_NAMESPACES:
            state = self._inner.copy()
            state.update(f"{ns}\x00".encode())
            self._prefixed[ns] = (state, f"{ns}:")

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

    def pseudonym(self, namespace: str, value: str) -> str:
        """``namespace:<first 16 hex digits of HMAC(key, namespace NUL normalised value)>``."""
        prefixed = self._prefixed.get(namespace)
        if prefixed is None:
            inner = self._inner.copy()
            inner.update(f"{namespace}\x00{normalise_value(namespace, value)}".encode())
            label = f"{namespace}:"
        else:
            state, label = prefixed
            inner = state.copy()
            inner.update(normalise_value(namespace, value).encode())
        outer = self._outer.copy()
        outer.update(inner.digest())
        return label + outer.hexdigest()[:DIGEST_HEX]

    __call__ = pseudonym

    def __getstate__(self):  # never pickle the secret into a checkpoint
        raise TypeError("Pseudonymizer holds a secret key and is not picklable")
