"""The trading tables, one module per concern: bots, orders and positions (with fills and equity), the paper
exchange's books, the market clock. ``from trading.models import Bot`` works for every one of them."""

from trading.models.bots import Bot, Direction
from trading.models.clock import MarketClock
from trading.models.fields import money
from trading.models.loop import LoopTick
from trading.models.orders import EquitySnapshot, Order, OrderEvent, Position, Trade
from trading.models.paper import PaperOrder, PaperPosition, PaperWallet

__all__ = [
    "Bot",
    "Direction",
    "EquitySnapshot",
    "LoopTick",
    "MarketClock",
    "Order",
    "OrderEvent",
    "PaperOrder",
    "PaperPosition",
    "PaperWallet",
    "Position",
    "Trade",
    "money",
]
