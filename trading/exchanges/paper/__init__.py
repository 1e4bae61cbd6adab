"""The paper exchange: the exchange adapter protocol, simulated over stored prices, with its
state in PostgreSQL (``trading.models.paper``). See ``engine.PaperExchange`` for the rules."""

from trading.exchanges.paper.engine import (
    DEFAULT_ACCOUNT_NAME,
    STARTING_BALANCE,
    PaperExchange,
    paper_account_for_organization,
)
from trading.exchanges.paper.prices import (
    DEFAULT_LEVERAGE_TIERS,
    DEFAULT_MARKETS,
    BuiltInMarkets,
    InMemoryPriceSource,
    PriceSource,
)

__all__ = [
    "DEFAULT_ACCOUNT_NAME",
    "DEFAULT_LEVERAGE_TIERS",
    "DEFAULT_MARKETS",
    "STARTING_BALANCE",
    "BuiltInMarkets",
    "InMemoryPriceSource",
    "PaperExchange",
    "PriceSource",
    "paper_account_for_organization",
]
