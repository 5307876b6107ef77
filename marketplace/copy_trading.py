"""Copy trading (issue 16): "Run this strategy" from a subscription makes a bot — through the bots' own service, so
the one risk envelope applies as for any bot — running the version the subscription uses, on one of the listing's
markets and its timeframe, sized and limited by the trader's risk profile (the script's own stop and target where it
sets them). Paper by default; a live account needs the trader's explicit confirmation. When the subscription ends,
its bots are paused (``marketplace.subscriptions``)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils.translation import gettext as _

from accounts.models import ExchangeAccount, RiskProfile
from marketplace.grants import slug_of
from marketplace.models import Subscription
from marketplace.subscriptions import access_q
from trading.bots.services import BotSettings, bot_create
from trading.models import Bot, Direction


@dataclass(frozen=True)
class CopyRequest:
    exchange_account_id: Any
    symbol: str
    start: bool = True
    live_confirmed: bool = False  # "this bot places real orders with real money"


@transaction.atomic
def copy_bot_create(*, user: Any, subscription_id: Any, request: CopyRequest) -> Bot:
    subscription = (
        Subscription.objects.select_related("listing", "version").filter(access_q(), id=subscription_id, user=user)
    ).first()
    if subscription is None:
        raise ValidationError({"subscription": [_("You have no access to this strategy.")]})
    listing = subscription.listing
    account = ExchangeAccount.objects.filter(id=request.exchange_account_id, user=user, enabled=True).first()
    if account is None:
        raise ValidationError({"exchange_account": [_("Choose one of your exchange accounts.")]})
    if request.symbol not in listing.markets:
        raise ValidationError({"symbol": [_("Choose one of the markets the strategy is meant for.")]})
    if not account.is_paper and not request.live_confirmed:
        raise ValidationError(
            {"live_confirmed": [_("This account trades real money: confirm that the bot may place real orders.")]}
        )
    shorts = account.is_paper or account.market_type != ExchangeAccount.MarketType.SPOT
    profile = RiskProfile.objects.get_or_create(user=user)[0]
    settings_ = BotSettings(
        strategy=slug_of(subscription.version.script_version_id), symbol=request.symbol,
        timeframe=listing.timeframe, name=f"{listing.name} · {request.symbol}"[:100], leverage=1,
        position_size_pct=profile.position_size_pct, stop_loss_pct=profile.stop_loss_pct,
        take_profit_pct=profile.take_profit_pct, max_drawdown_pct=profile.max_drawdown_pct,
        direction=Direction.BOTH if shorts else Direction.LONG,
    )  # fmt: skip
    bot = bot_create(user=user, exchange_account=account, settings_=settings_, start=request.start)
    bot.refresh_from_db()  # started: its status as stored
    return bot
