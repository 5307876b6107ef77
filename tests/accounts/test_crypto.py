"""accounts.crypto is pure: these tests need no database."""

import base64
import os

import pytest

from accounts.crypto import CryptoError, Keyring, is_sealed, key_id, mask

KEY_A = os.urandom(32)
KEY_B = os.urandom(32)


def test_round_trip_and_format():
    ring = Keyring([KEY_A])
    token = ring.encrypt("api-secret-123", context="ctx")
    assert is_sealed(token)
    version, kid, blob = token.split("$")
    assert version == "tv1"
    assert kid == key_id(KEY_A)
    assert "api-secret-123" not in token
    assert len(base64.b64decode(blob)) == 12 + len("api-secret-123") + 16  # nonce + text + GCM tag
    assert ring.decrypt(token, context="ctx") == "api-secret-123"


def test_every_value_gets_its_own_nonce():
    ring = Keyring([KEY_A])
    tokens = {ring.encrypt("same", context="ctx") for _ in range(50)}
    assert len(tokens) == 50
    nonces = {base64.b64decode(t.split("$")[2])[:12] for t in tokens}
    assert len(nonces) == 50


def test_context_is_bound():
    ring = Keyring([KEY_A])
    token = ring.encrypt("secret", context="accounts.ExchangeAccount.api_secret")
    with pytest.raises(CryptoError, match="altered or belongs elsewhere"):
        ring.decrypt(token, context="webhooks.WebhookEndpoint.secret")


def test_tampering_is_detected():
    ring = Keyring([KEY_A])
    token = ring.encrypt("secret", context="ctx")
    version, kid, blob = token.split("$")
    raw = bytearray(base64.b64decode(blob))
    raw[-1] ^= 1
    with pytest.raises(CryptoError):
        ring.decrypt(f"{version}${kid}${base64.b64encode(bytes(raw)).decode()}", context="ctx")


def test_first_key_encrypts_all_decrypt():
    old = Keyring([KEY_A]).encrypt("secret", context="ctx")
    ring = Keyring([KEY_B, KEY_A])
    assert ring.decrypt(old, context="ctx") == "secret"
    assert ring.needs_rotation(old)
    new = ring.rotate(old, context="ctx")
    assert new.split("$")[1] == key_id(KEY_B)
    assert not ring.needs_rotation(new)
    assert ring.rotate(new, context="ctx") == new
    assert Keyring([KEY_B]).decrypt(new, context="ctx") == "secret"


def test_unknown_key_names_it():
    token = Keyring([KEY_A]).encrypt("secret", context="ctx")
    with pytest.raises(CryptoError, match=key_id(KEY_A)):
        Keyring([KEY_B]).decrypt(token, context="ctx")


@pytest.mark.parametrize("bad", ["", "plain text", "tv1$abc", "tv1$abc$not base64!"])
def test_not_a_sealed_value(bad):
    with pytest.raises(CryptoError):
        Keyring([KEY_A]).decrypt(bad, context="ctx")


@pytest.mark.parametrize("keys", [[], [b"short"]])
def test_bad_keyring(keys):
    with pytest.raises(CryptoError):
        Keyring(keys)


def test_mask():
    assert mask("ABCDEFGHIJKL1234") == "••••••1234"
    assert "abc" not in mask("abc")
