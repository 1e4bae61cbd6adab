"""The paper exchange: the exchange adapter protocol, simulated over stored prices, with its
state in PostgreSQL (``trading.models.paper``). See ``engine.PaperExchange`` for the rules."""

from trading.exchanges.paper.accounts import (
    DEFAULT_ACCOUNT_NAME,
    STARTING_BALANCE,
    default_price_source,
    paper_account_for_exchange_account,
    paper_account_for_organization,
    paper_exchange_adapter,
)
from trading.exchanges.paper.engine import PaperExchange
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
    "default_price_source",
    "paper_account_for_exchange_account",
    "paper_account_for_organization",
    "paper_exchange_adapter",
]
