"""AES-256-GCM encryption of secrets at rest (pure: no Django import).

A sealed value is the text ``tv1$<key id>$<base64(nonce || ciphertext+tag)>``:

- ``tv1`` is the format version;
- ``key id`` is the first 8 hex digits of SHA-256 of the key, so a value names the key that
  sealed it and rotation can find the values still under an old key;
- the nonce is 12 random bytes, new for every value (never reused under one key);
- ``context`` (for example ``"mfa.totp"`` or ``"accounts.ExchangeAccount.api_secret"``) is bound as
  associated data, so a ciphertext copied from one field into another does not decrypt.

The first key of the keyring encrypts; every key decrypts.
"""

from __future__ import annotations

import base64
import hashlib
import os
from collections.abc import Sequence

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

PREFIX = "tv1"
NONCE_BYTES = 12


class CryptoError(Exception):
    """A sealed value cannot be opened: unknown key, wrong context, or tampered text."""


def key_id(key: bytes) -> str:
    return hashlib.sha256(key).hexdigest()[:8]


class Keyring:
    def __init__(self, keys: Sequence[bytes]) -> None:
        if not keys:
            raise CryptoError("The keyring needs at least one key.")
        for key in keys:
            if len(key) != 32:
                raise CryptoError("AES-256-GCM keys are 32 bytes long.")
        self._keys = {key_id(key): AESGCM(key) for key in keys}
        self.primary_id = key_id(keys[0])

    def encrypt(self, plaintext: str, *, context: str) -> str:
        nonce = os.urandom(NONCE_BYTES)
        sealed = self._keys[self.primary_id].encrypt(nonce, plaintext.encode(), context.encode())
        return f"{PREFIX}${self.primary_id}${base64.b64encode(nonce + sealed).decode()}"

    def decrypt(self, token: str, *, context: str) -> str:
        kid, blob = _split(token)
        aead = self._keys.get(kid)
        if aead is None:
            raise CryptoError(f"This secret was sealed with key {kid}, which is not in the keyring.")
        try:
            raw = base64.b64decode(blob, validate=True)
            plaintext = aead.decrypt(raw[:NONCE_BYTES], raw[NONCE_BYTES:], context.encode())
        except (ValueError, InvalidTag):
            raise CryptoError("This secret cannot be decrypted: it was altered or belongs elsewhere.") from None
        return plaintext.decode()

    def needs_rotation(self, token: str) -> bool:
        return _split(token)[0] != self.primary_id

    def rotate(self, token: str, *, context: str) -> str:
        """Return ``token`` sealed under the primary key (unchanged when it already is)."""
        if not self.needs_rotation(token):
            return token
        return self.encrypt(self.decrypt(token, context=context), context=context)


def is_sealed(value: object) -> bool:
    return isinstance(value, str) and value.startswith(PREFIX + "$") and value.count("$") == 2


def _split(token: str) -> tuple[str, str]:
    if not is_sealed(token):
        raise CryptoError("This value is not a sealed secret.")
    _, kid, blob = token.split("$")
    return kid, blob


def mask(plaintext: str, visible: int = 4) -> str:
    """Show only the last ``visible`` characters: ``••••••ab12``."""
    if len(plaintext) <= visible * 2:
        return "•" * 8
    return "•" * 6 + plaintext[-visible:]
