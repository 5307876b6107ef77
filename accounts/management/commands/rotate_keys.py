from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError

from accounts.crypto import CryptoError
from accounts.services import secrets_rotate


class Command(BaseCommand):
    help = "Re-encrypt every stored secret under the first key of TRENDY_ENCRYPTION_KEYS."

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            report = secrets_rotate()
        except CryptoError as exc:
            raise CommandError(f"{exc} Nothing was changed: put the old key back in TRENDY_ENCRYPTION_KEYS.") from exc
        self.stdout.write(f"Checked {report.checked} secrets; re-encrypted {report.rotated} rows under the first key.")
