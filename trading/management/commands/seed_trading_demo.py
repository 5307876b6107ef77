"""Give the demo user a paper account and a running bot, so that ``make run`` shows trading at once
(on the replay clock when offline). Does nothing when the demo user already has a bot."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from accounts.models import ExchangeAccount, User
from accounts.services import exchange_account_create
from market_data.management.commands.seed_demo import DEMO_EMAIL
from market_data.management.reports import database_errors_in_one_line
from trading.bots import services as bot_services
from trading.models import Bot


class Command(BaseCommand):
    help = "Create the demo user's paper account and a running EMA-crossover bot on BTC/USDT 1h."

    def handle(self, *args: Any, **options: Any) -> None:
        with database_errors_in_one_line():
            self._handle()

    def _handle(self) -> None:
        user = User.objects.filter(email=DEMO_EMAIL).first()
        if user is None:
            raise CommandError("There is no demo user: run `python manage.py seed_demo` first (or `make seed`).")
        if Bot.objects.filter(user=user).exists():
            self.stdout.write("The demo user already has a bot.")
            return
        account = ExchangeAccount.objects.filter(user=user, exchange=ExchangeAccount.PAPER).first()
        try:
            if account is None:
                account = exchange_account_create(
                    user=user, exchange="paper", label="Demo paper", paper_balance=Decimal(10_000)
                )
            bot = bot_services.bot_create(
                user=user,
                exchange_account=account,
                settings_=bot_services.BotSettings(strategy="ema_crossover", symbol="BTC/USDT", timeframe="1h"),
                start=True,
            )
        except ValidationError as exc:
            raise CommandError(f"Could not create the demo bot: {' '.join(exc.messages)}") from None
        self.stdout.write(f"Demo paper account '{account.label}' with a running bot: {bot.name}.")
