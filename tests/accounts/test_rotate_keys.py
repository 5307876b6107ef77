import base64
import os

import pytest
from allauth.mfa.models import Authenticator
from allauth.mfa.recovery_codes.internal.auth import RecoveryCodes
from allauth.mfa.totp.internal.auth import TOTP
from django.core.management import CommandError, call_command

from accounts import secrets
from accounts.crypto import key_id

pytestmark = pytest.mark.django_db

OLD = os.urandom(32)
NEW = os.urandom(32)


def _kid(auth, field):
    return auth.data[field].split("$")[1]


def test_rotate_reseals_everything_under_the_first_key(settings, alice, bob, capsys):
    settings.TRENDY_ENCRYPTION_KEYS = [OLD]
    TOTP.activate(alice, "JBSWY3DPEHPK3PXP")
    codes = RecoveryCodes.activate(bob).generate_codes()
    TOTP.activate(bob, "KRSXG5CTMVRXEZLU")

    settings.TRENDY_ENCRYPTION_KEYS = [NEW, OLD]
    call_command("rotate_keys")
    out = capsys.readouterr().out
    assert "re-encrypted 3 rows" in out

    for auth in Authenticator.objects.all():
        field = "secret" if auth.type == "totp" else "seed"
        assert _kid(auth, field) == key_id(NEW)

    # The old key can now leave the keyring; everything still opens.
    settings.TRENDY_ENCRYPTION_KEYS = [NEW]
    alice_totp = Authenticator.objects.get(user=alice, type="totp")
    assert secrets.decrypt(alice_totp.data["secret"], context=secrets.MFA_CONTEXT) == "JBSWY3DPEHPK3PXP"
    bob_codes = RecoveryCodes(Authenticator.objects.get(user=bob, type="recovery_codes"))
    assert bob_codes.generate_codes() == codes

    # A second run has nothing to do.
    call_command("rotate_keys")
    assert "re-encrypted 0 rows" in capsys.readouterr().out


def test_rotate_with_a_missing_key_changes_nothing(settings, alice, bob):
    settings.TRENDY_ENCRYPTION_KEYS = [OLD]
    TOTP.activate(alice, "JBSWY3DPEHPK3PXP")
    settings.TRENDY_ENCRYPTION_KEYS = [NEW]
    TOTP.activate(bob, "KRSXG5CTMVRXEZLU")
    before = {a.id: a.data for a in Authenticator.objects.all()}

    third = os.urandom(32)
    settings.TRENDY_ENCRYPTION_KEYS = [third, NEW]  # OLD is gone: alice's secret cannot be opened
    with pytest.raises(CommandError, match="Nothing was changed"):
        call_command("rotate_keys")
    assert {a.id: a.data for a in Authenticator.objects.all()} == before


def test_settings_refuse_bad_keys(tmp_path):
    import subprocess
    import sys

    env = {**os.environ, "DJANGO_DEBUG": "1", "TRENDY_ENCRYPTION_KEYS": base64.b64encode(b"short").decode()}
    result = subprocess.run(
        [sys.executable, "manage.py", "check"], env=env, capture_output=True, text=True, check=False
    )
    assert result.returncode != 0
    assert "decodes to 5 bytes; AES-256 needs 32" in result.stderr
