"""Our names for third-party apps, so that every section of the admin says what it holds, in both languages.

allauth's ``account`` app is also called "Accounts", like ours, and its ``mfa`` app "MFA"; Celery beat's
name has no natural Korean. Each subclass changes names only: ``name`` and ``label`` are inherited, so
migrations, permissions and ``apps.is_installed()`` see the same apps. INSTALLED_APPS names these classes
instead of the packages.

The classes live here, not in ``trading_site/apps.py``: Django picks an app's default config from its
``apps.py`` only when that module holds a single AppConfig subclass.
"""

from __future__ import annotations

from allauth.account.apps import AccountConfig
from allauth.mfa.apps import MFAConfig
from django.utils.translation import gettext_lazy as _
from django.utils.translation import gettext_noop
from django_celery_beat.apps import BeatConfig


class AllauthAccountConfig(AccountConfig):
    verbose_name = _("E-mail addresses")


class AllauthMFAConfig(MFAConfig):
    verbose_name = _("Two-factor authentication")

    def ready(self) -> None:
        super().ready()
        # allauth's Authenticator has no verbose name: the admin would call it "authenticator" in every
        # language. Migrations read Meta options from ``_meta.original_attrs``, so this changes pages only.
        opts = self.get_model("Authenticator")._meta
        opts.verbose_name = _("authenticator")
        opts.verbose_name_plural = _("authenticators")


class CeleryBeatConfig(BeatConfig):
    verbose_name = _("Periodic tasks")


# Celery beat's own Korean catalogue leaves these names in English. Catalogues in LOCALE_PATHS come before
# the apps' own, so naming the library's msgids here (unchanged, for makemessages) puts ours on its pages.
CELERY_BEAT_MSGIDS = (
    gettext_noop("periodic task"),
    gettext_noop("periodic tasks"),
    gettext_noop("interval"),
    gettext_noop("intervals"),
    gettext_noop("crontab"),
    gettext_noop("crontabs"),
    gettext_noop("clocked"),
    gettext_noop("solar event"),
    gettext_noop("solar events"),
    gettext_noop("Clock Time"),
    gettext_noop("Solar Event"),
    gettext_noop("Interval Schedule"),
    gettext_noop("Crontab Schedule"),
    gettext_noop("Solar Schedule"),
    gettext_noop("Clocked Schedule"),
    gettext_noop("One-off Task"),
)
