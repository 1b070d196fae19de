"""The keys behind the whistle flow's rows, derived from a secret every replica holds and the
database never does.

The secret is `[whistle] secret`, or the bot token when that is empty (every replica has the
token anyway). HKDF turns it into three independent keys: one names a person's draft (an HMAC of
their user id, so the row carries no id in clear), one seals the draft's content (AES-256-GCM),
and one is the root of the rate limits' per-period keys (policies.whistle.period_key). A copy of
the database alone therefore shows neither who is writing nor what; whoever also holds the secret
could compute both, which is why it stays out of the database and off the command line.
"""

from __future__ import annotations

import hashlib
import hmac
import os
from dataclasses import dataclass, field

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from bot.settings import Settings

# A fixed label as HKDF's salt: the same secret gives other keys in any other use of it.
SALT = b"jianfu whistle keys v1"
# The first byte of a sealed value, so a later scheme can tell its own values from these.
SEAL_VERSION = b"\x01"
NONCE_BYTES = 12


class MissingSecret(ValueError):
    """Neither [whistle] secret nor a bot token is configured: there is nothing to derive keys from."""


@dataclass(frozen=True)
class WhistleKeys:
    # repr=False: a key must never reach a log line through an object's repr.
    naming: bytes = field(repr=False)
    sealing: bytes = field(repr=False)
    limits: bytes = field(repr=False)

    @classmethod
    def from_settings(cls, settings: Settings) -> WhistleKeys:
        secret = settings.whistle.secret.get_secret_value() or settings.telegram.token.get_secret_value()
        if not secret:
            raise MissingSecret("whistle keys need [whistle] secret or the bot token")
        return cls.derive(secret.encode())

    @classmethod
    def derive(cls, secret: bytes) -> WhistleKeys:
        return cls(_hkdf(secret, b"draft name"), _hkdf(secret, b"draft content"), _hkdf(secret, b"rate limits"))

    def draft_name(self, user_id: int) -> str:
        """The name of a person's draft row: HMAC-SHA256 of their id, in hex."""
        return hmac.new(self.naming, str(user_id).encode(), hashlib.sha256).hexdigest()

    def seal(self, name: str, content: bytes) -> bytes:
        """Encrypt a draft's content, bound to its row's name (it cannot be moved to another row)."""
        nonce = os.urandom(NONCE_BYTES)
        return SEAL_VERSION + nonce + AESGCM(self.sealing).encrypt(nonce, content, _bound_to(name))

    def unseal(self, name: str, sealed: bytes) -> bytes | None:
        """The content, or None when it was not sealed under this key for this name (or was changed)."""
        if sealed[:1] != SEAL_VERSION:
            return None
        nonce, ciphertext = sealed[1 : 1 + NONCE_BYTES], sealed[1 + NONCE_BYTES :]
        try:
            return AESGCM(self.sealing).decrypt(nonce, ciphertext, _bound_to(name))
        except InvalidTag:
            return None


def _hkdf(secret: bytes, purpose: bytes) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=SALT, info=purpose).derive(secret)


def _bound_to(name: str) -> bytes:
    return SEAL_VERSION + name.encode()
