"""The five-step onboarding wizard. It composes the other apps' services and owns no trading logic:
accounts (exchange account, risk profile), trading (connection test, bot), webhooks (endpoint) and
strategies (backtest run). Every function takes keyword arguments only.

The state (``OnboardingState``) says which step the wizard shows and what the trader chose. Submitting
step *n* is allowed when *n* is the current step or an earlier one (a re-submission updates what that
step chose; it never makes a second account or endpoint); a later step is refused (``WizardError``,
code ``out_of_order``) and the state is left as it was. After the bot is created the wizard is done:
every submission answers ``WizardError`` with code ``done``, so a back button or a resubmitted form
never makes a second bot.

A new account's auto-trading is off; step 5 turns it on only when the trader ticks the box beside what it means
in money (``auto_trading_money``). Sign-in leads a trader to the wizard until it is finished or dismissed, or
they have an exchange account or a bot (``needs_onboarding``).

Why this file is long: one function per wizard step plus the state machine that orders them; each step is
short, and keeping them together shows the whole path a new trader takes."""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from accounts import services as account_services
from accounts.models import ExchangeAccount
from market_data.selectors import series_info, series_list
from onboarding.models import STEPS, OnboardingState
from strategies import services as strategy_services
from strategies.builtin import REGISTRY
from strategies.labels import strategy_name
from strategies.models import BacktestRun
from trading import clock as market_clock
from trading.bots import services as bot_services
from trading.exchange_accounts.connection import exchange_account_test
from trading.models import Bot, PaperWallet
from webhooks import services as webhook_services
from webhooks.models import WebhookEndpoint

RISK_FIELDS = ("leverage", "position_size_pct", "stop_loss_pct", "take_profit_pct")
BACKTEST_MARKET = ("binance", "BTC/USDT", "1h")
MIN_CAPITAL = Decimal(10)  # the backtest's smallest starting capital
EXAMPLE_BALANCE = Decimal(10_000)  # used for backtests and explanations when the account holds no USDT


@dataclass(frozen=True)
class RiskLevel:
    slug: str
    label: Any
    description: Any
    leverage: int
    position_size_pct: Decimal
    stop_loss_pct: Decimal
    take_profit_pct: Decimal
    strategies: tuple[str, ...]  # suggested, best fit first

    def defaults(self) -> dict[str, str]:
        return {name: str(getattr(self, name)) for name in RISK_FIELDS}


# The questionnaire's answer and the defaults it suggests (shown on step 2).
RISK_LEVELS: dict[str, RiskLevel] = {
    level.slug: level
    for level in (
        RiskLevel(
            "conservative",
            gettext_lazy("Conservative"),
            gettext_lazy("Slow trend-following strategies that trade rarely; no leverage, small positions."),
            1,
            Decimal(5),
            Decimal(2),
            Decimal(4),
            ("ema_crossover", "ichimoku_cloud"),
        ),
        RiskLevel(
            "balanced",
            gettext_lazy("Balanced"),
            gettext_lazy("Faster trend signals with a little leverage and medium positions."),
            2,
            Decimal(10),
            Decimal(2),
            Decimal(5),
            ("supertrend", "macd_stoch"),
        ),
        RiskLevel(
            "aggressive",
            gettext_lazy("Aggressive"),
            gettext_lazy("Pullback and mean-reversion strategies that trade often, with more leverage and size."),
            3,
            Decimal(15),
            Decimal(3),
            Decimal(8),
            ("rsi_ema", "bb_rsi"),
        ),
    )
}

# The short questionnaire: each answer scores 0, 1 or 2; the sum suggests a risk level.
QUESTIONS: tuple[tuple[str, Any, tuple[Any, Any, Any]], ...] = (
    (
        "q_drop",
        gettext_lazy("If your account fell by a fifth in a month, you would…"),
        (gettext_lazy("stop trading"), gettext_lazy("wait and see"), gettext_lazy("keep going, even add more")),
    ),
    (
        "q_experience",
        gettext_lazy("Have you traded with leverage before?"),
        (gettext_lazy("never"), gettext_lazy("a little"), gettext_lazy("regularly")),
    ),
    (
        "q_goal",
        gettext_lazy("What matters most to you?"),
        (
            gettext_lazy("keeping what I have"),
            gettext_lazy("steady growth"),
            gettext_lazy("the highest return, with big swings"),
        ),
    ),
)


class WizardError(Exception):
    """A submission the wizard refuses as a whole (the state is unchanged): ``code`` is ``out_of_order``
    (a later step than the current one), ``done`` (the bot exists already) or ``missing`` (an earlier
    step's choice is gone, e.g. its account was deleted)."""

    def __init__(self, message: str, *, code: str) -> None:
        super().__init__(message)
        self.message = message
        self.code = code


@dataclass
class StepResult:
    state: OnboardingState
    notice: str = ""
    connection: dict[str, Any] | None = None  # step 1: the connection test's outcome
    secret: str = ""  # step 4: the new endpoint's secret, shown once
    extra: dict[str, Any] = field(default_factory=dict)


# --- reading -------------------------------------------------------------------------------------


def state_for(*, user: Any) -> OnboardingState:
    """The user's wizard state, created at step 1 on first use."""
    return OnboardingState.objects.get_or_create(user=user)[0]


def needs_onboarding(*, user: Any) -> bool:
    """Whether signing in should lead this trader to the wizard: not finished, not dismissed, and no exchange
    account or bot of their own yet (a trader who set things up elsewhere goes to the dashboard)."""
    state = OnboardingState.objects.filter(user=user).values("completed_at", "dismissed_at").first()
    if state is not None and (state["completed_at"] or state["dismissed_at"]):
        return False
    return not (ExchangeAccount.objects.filter(user=user).exists() or Bot.objects.filter(user=user).exists())


def unfinished_step(*, user: Any) -> int | None:
    """The step of a wizard the trader started and has not finished (dismissed or not), else None: for a
    "resume the guided setup" link on other pages."""
    state = OnboardingState.objects.filter(user=user, completed_at__isnull=True).values("step").first()
    return state["step"] if state is not None else None


def resume_link(user: Any) -> tuple[str, str] | None:
    """For the dashboard: the way back into a wizard the trader started and did not finish."""
    step = unfinished_step(user=user)
    if step is None:
        return None
    return reverse("onboarding:step", args=[step]), _("Resume the guided setup (step %(step)d of 5)") % {"step": step}


def suggest_risk_level(answers: dict[str, Any]) -> str | None:
    """The risk level the questionnaire's answers suggest, or None while a question is unanswered."""
    scores = []
    for name, _question, _choices in QUESTIONS:
        value = str(answers.get(name) or "")
        if value not in ("0", "1", "2"):
            return None
        scores.append(int(value))
    total = sum(scores)
    return "conservative" if total <= 2 else "balanced" if total <= 4 else "aggressive"


def own_account(*, user: Any, account_id: Any) -> ExchangeAccount | None:
    """The user's exchange account with this id, or None (another user's id finds nothing)."""
    try:
        pk = int(account_id)
    except (TypeError, ValueError):
        return None
    return ExchangeAccount.objects.filter(user=user, pk=pk).first()


def chosen_account(*, state: OnboardingState) -> ExchangeAccount | None:
    return own_account(user=state.user, account_id=state.data.get("account_id"))


def chosen_endpoint(*, state: OnboardingState) -> WebhookEndpoint | None:
    endpoint_id = state.data.get("endpoint_id")
    if not isinstance(endpoint_id, int):
        return None
    return WebhookEndpoint.objects.filter(user=state.user, pk=endpoint_id, revoked_at__isnull=True).first()


def chosen_run(*, state: OnboardingState) -> BacktestRun | None:
    run_id = state.data.get("backtest_run_id")
    if not isinstance(run_id, int):
        return None
    return BacktestRun.objects.filter(user=state.user, pk=run_id).first()


def chosen_bot(*, state: OnboardingState) -> Bot | None:
    bot_id = state.data.get("bot_id")
    if not isinstance(bot_id, int):
        return None
    return Bot.objects.filter(user=state.user, pk=bot_id).first()


def balance_of(*, state: OnboardingState) -> tuple[Decimal, bool]:
    """The account's USDT balance from its connection test, and whether it is an example figure
    (the account holds no USDT, or none is known yet)."""
    try:
        balance = Decimal(str(state.data.get("balance") or "0"))
    except InvalidOperation:
        balance = Decimal(0)
    if not balance.is_finite() or balance < MIN_CAPITAL:
        return EXAMPLE_BALANCE, True
    return balance.quantize(Decimal("0.01")), False


def risk_explanation(
    *, balance: Decimal, leverage: Any, position_size_pct: Any, stop_loss_pct: Any, take_profit_pct: Any
) -> dict[str, Decimal] | None:
    """What the risk settings mean in money (pure arithmetic): the margin one position uses, its value with
    leverage, about what the stop loss loses and the take profit gains (before fees). None for bad input."""
    try:
        lev = Decimal(str(leverage))
        size, sl, tp = (Decimal(str(v)) for v in (position_size_pct, stop_loss_pct, take_profit_pct))
    except (InvalidOperation, TypeError, ValueError):
        return None
    if not all(v.is_finite() and v > 0 for v in (lev, size, sl, tp)):
        return None
    cent = Decimal("0.01")
    margin = balance * size / 100
    value = margin * lev
    loss = value * sl / 100
    gain = value * tp / 100
    return {
        "balance": balance.quantize(cent),
        "margin": margin.quantize(cent),
        "value": value.quantize(cent),
        "loss": loss.quantize(cent),
        "gain": gain.quantize(cent),
        "loss_pct_of_balance": (loss / balance * 100).quantize(cent),
        "gain_pct_of_balance": (gain / balance * 100).quantize(cent),
        "price_move_to_lose_margin": (Decimal(100) / lev).quantize(cent),
    }


def paper_target(*, user: Any, account: ExchangeAccount | None) -> tuple[ExchangeAccount | None, Decimal]:
    """The paper account "Start on paper" trades on (the step-1 account when it is paper, else the trader's
    enabled paper account, else None: a new one is made) and its USDT balance."""
    if account is not None and account.is_paper:
        target: ExchangeAccount | None = account
    else:
        target = ExchangeAccount.objects.filter(user=user, exchange=ExchangeAccount.PAPER, enabled=True).first()
    if target is None:
        return None, account_services.PAPER_BALANCE_DEFAULT
    wallet = PaperWallet.objects.filter(account=target).values_list("balance", flat=True).first()
    balance = wallet if wallet is not None else target.paper_balance or account_services.PAPER_BALANCE_DEFAULT
    return target, Decimal(balance)


def auto_trading_money(*, balance: Decimal, data: dict[str, Any]) -> dict[str, Decimal] | None:
    """What turning auto-trading on means in money for this balance and the wizard's risk settings: the margin
    one position may use (its share of the balance), the leverage, and about what one trade loses at the stop
    loss (before fees). None while a setting is missing."""
    figures = risk_explanation(balance=balance, **{name: data.get(name) for name in RISK_FIELDS})
    if figures is None:
        return None
    return {
        **figures,
        "leverage": Decimal(str(data["leverage"])),
        "position_size_pct": Decimal(str(data["position_size_pct"])),
        "stop_loss_pct": Decimal(str(data["stop_loss_pct"])),
    }


def backtest_market() -> tuple[str, str, str] | None:
    """BTC/USDT 1h on Binance when stored, else the first stored 1h market, else None."""
    if series_info(exchange=BACKTEST_MARKET[0], symbol=BACKTEST_MARKET[1], timeframe=BACKTEST_MARKET[2]):
        return BACKTEST_MARKET
    for info in series_list():
        if info.timeframe == "1h":
            return info.exchange, info.symbol, info.timeframe
    return None


# --- writing -------------------------------------------------------------------------------------


def _locked(user: Any) -> OnboardingState:
    state_for(user=user)
    return OnboardingState.objects.select_for_update().select_related("user").get(user=user)


def check_order(*, state: OnboardingState, step: int) -> None:
    """Refuse (``WizardError``) a step after the current one, or any step once the wizard is done."""
    if state.done:
        raise WizardError(_("You have already finished the onboarding: your bot is running."), code="done")
    if not 1 <= step <= STEPS:
        raise WizardError(_("There is no such step."), code="out_of_order")
    if step > state.step:
        raise WizardError(
            _("Finish step %(current)d first: the steps go in order.") % {"current": state.step}, code="out_of_order"
        )


def _require(state: OnboardingState, step: int) -> None:
    """The choices of the steps before ``step`` must still be there."""
    data = state.data
    if step > 1:
        _account(state)
    if step > 2 and data.get("strategy") not in REGISTRY:
        raise WizardError(_("Choose a strategy in step 2 first."), code="missing")
    if step > 3 and not all(name in data for name in RISK_FIELDS):
        raise WizardError(_("Save the risk settings in step 3 first."), code="missing")


def _account(state: OnboardingState) -> ExchangeAccount:
    account = chosen_account(state=state)
    if account is None:
        raise WizardError(_("The exchange account of step 1 is gone: connect one again."), code="missing")
    return account


def _save(state: OnboardingState) -> OnboardingState:
    state.full_clean(exclude=["user"])
    state.save()
    return state


def step_submit(*, user: Any, step: int, data: dict[str, Any]) -> StepResult:
    """Validate one step's input, call the other apps' services and move the wizard on.

    Raises ``WizardError`` for a step out of order (or after the end) and ``ValidationError`` (keyed by
    field, or a plain message) for bad input; in both cases the stored state is unchanged.
    """
    state = state_for(user=user)
    check_order(state=state, step=step)
    _require(state, step)
    handler = {1: _step_1, 2: _step_2, 3: _step_3, 4: _step_4, 5: _step_5}[step]
    return handler(user, data)


def _commit(
    user: Any, step: int, changes: dict[str, Any], *, next_step: int, drop: tuple[str, ...] = ()
) -> OnboardingState:
    """Write a step's outcome under the row lock, re-checking the order (a concurrent request may have
    moved the wizard meanwhile)."""
    with transaction.atomic():
        state = _locked(user)
        check_order(state=state, step=step)
        state.data = {**{k: v for k, v in state.data.items() if k not in drop}, **changes}
        state.step = next_step
        return _save(state)


# Step 1: connect an exchange ---------------------------------------------------------------------

ACCOUNT_FIELDS = ("exchange", "label", "market_type", "testnet", "api_key", "secret", "passphrase", "paper_balance")


def _connection(result: Any) -> dict[str, Any]:
    return {"ok": result.ok, "message": result.message, "warnings": list(result.warnings)}


def _balance(result: Any) -> str:
    usdt = result.balances.get("USDT")
    return str(usdt.total) if usdt is not None else "0"


def _step_1(user: Any, data: dict[str, Any]) -> StepResult:
    action = data.get("action") or "connect"
    state = state_for(user=user)
    if action == "next":
        account = chosen_account(state=state)
        if account is None or not (state.data.get("connection") or {}).get("ok"):
            raise ValidationError(_("Connect an exchange account (and pass the connection test) first."))
        return StepResult(_commit(user, 1, {}, next_step=2))

    if action == "existing":
        account = own_account(user=user, account_id=data.get("account_id"))
        if account is None:
            raise ValidationError({"account_id": [_("Choose one of your exchange accounts.")]})
        if not account.enabled:
            raise ValidationError({"account_id": [_("This exchange account is disabled: enable it first.")]})
        result = exchange_account_test(account=account)
        if not result.ok:
            raise ValidationError(result.message)
        created = False
    elif action == "connect":
        fields = {name: data[name] for name in ACCOUNT_FIELDS if name in data}
        previous = chosen_account(state=state)
        label = str(fields.get("label") or "").strip()
        if previous is not None and state.data.get("account_created") and label.lower() == previous.label.lower():
            # The same form sent again (a double click, a refresh): test the account it made, make no other.
            account = previous
            result = exchange_account_test(account=account)
            if not result.ok:
                raise ValidationError(result.message)
        else:
            account = account_services.exchange_account_create(user=user, **fields)
            result = exchange_account_test(account=account)
            if not result.ok:
                # Nothing half-saved: a key the exchange refuses is not kept.
                account_services.exchange_account_delete(account=account)
                raise ValidationError(result.message)
        created = True
    else:
        raise ValidationError(_("Unknown action."))

    changes = {
        "account_id": account.pk,
        "account_created": created,
        "connection": _connection(result),
        "balance": _balance(result),
    }
    new_state = _commit(user, 1, changes, next_step=1, drop=("backtest_run_id",))
    # No notice: step 1 shows the outcome itself, from the stored facts, in the language of the page.
    return StepResult(new_state, connection=changes["connection"])


# Step 2: choose a strategy -----------------------------------------------------------------------


def _step_2(user: Any, data: dict[str, Any]) -> StepResult:
    errors: dict[str, list[str]] = {}
    level = data.get("risk_level") or suggest_risk_level(data)
    if level not in RISK_LEVELS:
        errors["risk_level"] = [_("Choose conservative, balanced or aggressive (or answer the three questions).")]
    slug = data.get("strategy")
    if slug not in REGISTRY:
        errors["strategy"] = [_("Choose one of the six strategies.")]
    if errors:
        raise ValidationError(errors)
    state = state_for(user=user)
    changes: dict[str, Any] = {"risk_level": level, "strategy": slug}
    if slug != state.data.get("strategy") or "params" not in state.data:
        changes["params"] = REGISTRY[slug].defaults()
    if level != state.data.get("risk_level") or not all(name in state.data for name in RISK_FIELDS):
        changes.update(RISK_LEVELS[level].defaults())  # a new risk level brings its defaults to step 3
    return StepResult(_commit(user, 2, changes, next_step=3, drop=("backtest_run_id",)))


# Step 3: risk settings ---------------------------------------------------------------------------


def _step_3(user: Any, data: dict[str, Any]) -> StepResult:
    values = {name: data.get(name) for name in RISK_FIELDS}
    errors: dict[str, list[str]] = {}
    for name, value in values.items():
        if value is None or value == "":
            errors[name] = [_("This field is required.")]
    if errors:
        raise ValidationError(errors)
    with transaction.atomic():
        # The profile holds the limits a bot must sit inside (leverage and size are maxima there).
        profile = account_services.risk_profile_update(user=user, **values)
        changes = {name: str(getattr(profile, name)) for name in RISK_FIELDS}
        state = _commit(user, 3, changes, next_step=4, drop=("backtest_run_id",))
    return StepResult(state)


# Step 4: TradingView webhook (optional) ----------------------------------------------------------


def _step_4(user: Any, data: dict[str, Any]) -> StepResult:
    action = data.get("action")
    state = state_for(user=user)
    if action == "create":
        account = _account(state)
        endpoint = chosen_endpoint(state=state)
        if endpoint is not None and endpoint.exchange_account_id == account.pk:
            return StepResult(state, notice=_("You already created this endpoint; its secret was shown once."))
        name = _("TradingView: %(strategy)s") % {"strategy": strategy_name(state.data["strategy"])}
        created = webhook_services.endpoint_create(user=user, exchange_account=account, name=name)
        new_state = _commit(user, 4, {"endpoint_id": created.endpoint.pk, "endpoint_skipped": False}, next_step=4)
        return StepResult(new_state, secret=created.secret, notice=_("Endpoint created."))
    if action in ("next", "skip"):
        changes = {"endpoint_skipped": True} if action == "skip" else {}
        return StepResult(_commit(user, 4, changes, next_step=5))
    raise ValidationError(_("Unknown action."))


# Step 5: first backtest --------------------------------------------------------------------------


def _step_5(user: Any, data: dict[str, Any]) -> StepResult:
    if data.get("action") != "backtest":
        raise ValidationError(_("Unknown action."))
    state = state_for(user=user)
    run = chosen_run(state=state)
    if run is not None and run.status in (BacktestRun.Status.QUEUED, BacktestRun.Status.RUNNING):
        return StepResult(state, notice=_("The backtest is already running."))
    market = backtest_market()
    if market is None:
        raise ValidationError(
            _("No hourly candles are stored yet, so there is nothing to backtest on. Import candles, then try again.")
        )
    capital, _example = balance_of(state=state)
    d = state.data
    risk = strategy_services.RiskSettings(
        initial_capital=capital,
        leverage=int(d["leverage"]),
        position_size_pct=Decimal(d["position_size_pct"]),
        stop_loss_pct=Decimal(d["stop_loss_pct"]),
        take_profit_pct=Decimal(d["take_profit_pct"]),
    )
    # On the replay clock the market's "now" is in the stored past: the backtest ends there, so that it never
    # sees candles the replay has not reached yet. On the live clock it ends at the last stored candle.
    end = market_clock.now().replace(minute=0, second=0, microsecond=0) if market_clock.is_replay() else None
    with transaction.atomic():
        run = strategy_services.backtest_run_create(
            user=user,
            strategy=d["strategy"],
            params=d.get("params") or {},
            exchange=market[0],
            symbol=market[1],
            timeframe=market[2],
            risk=risk,
            end=end,
        )
        new_state = _commit(user, 5, {"backtest_run_id": run.pk}, next_step=5)
    return StepResult(new_state)


def step_back(*, user: Any) -> OnboardingState:
    """One step back (what was chosen stays, to be changed or kept). Refused once the bot exists."""
    with transaction.atomic():
        state = _locked(user)
        if state.done:
            raise WizardError(_("You have already finished the onboarding: your bot is running."), code="done")
        state.step = max(1, state.step - 1)
        return _save(state)


def onboarding_dismiss(*, user: Any) -> OnboardingState:
    """The trader said "not now": they leave the wizard for the dashboard. What was chosen stays; the wizard can be
    resumed from the dashboard, but signing in no longer leads to it."""
    with transaction.atomic():
        state = _locked(user)
        if state.dismissed_at is None:
            state.dismissed_at = timezone.now()
            _save(state)
    return state


def default_label(*, user: Any, kind: str) -> str:
    """A label to start from for a new account of this kind (``paper``, ``binance``, ``okx``) that the trader
    has not used yet: "Paper", "Paper 2", …"""
    base = _("Paper") if kind == ExchangeAccount.PAPER else {"binance": "Binance", "okx": "OKX"}.get(kind, kind)
    label, n = base, 1
    while ExchangeAccount.objects.filter(user=user, label__iexact=label).exists():
        n += 1
        label = f"{base} {n}"
    return label


def _paper_account(user: Any, chosen: ExchangeAccount) -> ExchangeAccount:
    existing, _balance = paper_target(user=user, account=chosen)
    if existing is not None:
        return existing
    label = default_label(user=user, kind=ExchangeAccount.PAPER)
    return account_services.exchange_account_create(user=user, exchange=ExchangeAccount.PAPER, label=label)


def onboarding_finish(*, user: Any, live: bool, confirm: bool, auto_trading: bool = False) -> Bot:
    """Create the bot (running) from the wizard's choices: on paper, or live on the step-1 account after an
    explicit confirmation. Needs a finished backtest. Once only: afterwards ``WizardError(code="done")``.

    ``auto_trading`` turns the trader's auto-trading on (the box beside its money sentence); without it the
    switch stays as it is, so a new trader's bot waits, placing no order, until they turn it on."""
    with transaction.atomic():
        state = _locked(user)
        check_order(state=state, step=5)
        if state.step != 5:
            raise WizardError(
                _("Finish step %(current)d first: the steps go in order.") % {"current": state.step},
                code="out_of_order",
            )
        _require(state, 5)
        run = chosen_run(state=state)
        if run is None or run.status != BacktestRun.Status.DONE:
            raise ValidationError(_("Run the backtest first, and let it finish."))
        account = _account(state)
        if live:
            if account.is_paper:
                raise ValidationError(_("Going live needs a real exchange account; this one is a paper account."))
            if not confirm:
                message = _("Tick the box to confirm that the bot trades real money on %(label)s.")
                raise ValidationError({"confirm": [message % {"label": account.label}]})
            target = account
        else:
            target = _paper_account(user, account)
        d = state.data
        bot = bot_services.bot_create(
            user=user,
            exchange_account=target,
            settings_=bot_services.BotSettings(
                strategy=d["strategy"],
                symbol=run.symbol,
                timeframe=run.timeframe,
                params=d.get("params") or {},
                leverage=int(d["leverage"]),
                position_size_pct=Decimal(d["position_size_pct"]),
                stop_loss_pct=Decimal(d["stop_loss_pct"]),
                take_profit_pct=Decimal(d["take_profit_pct"]),
            ),
            start=True,
        )
        if auto_trading and not state.user.auto_trading:
            bot_services.auto_trading_set(user=user, enabled=True)
        state.data = {**state.data, "bot_id": bot.pk, "live": bool(live)}
        state.completed_at = timezone.now()
        _save(state)
    return bot
