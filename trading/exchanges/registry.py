"""Which adapter serves an exchange id.

``adapter_for("aster", credentials)`` returns a ``CcxtAdapter``; any CCXT exchange id works the
same way. Built-in exchanges that are not CCXT's (the paper exchange) register a factory in
``ADAPTER_FACTORIES``; a factory is called as ``factory(credentials, **opts)`` and returns an
``ExchangeAdapter``. Register lazily (``lazy_factory``) so importing this module stays cheap and
free of import cycles, e.g. in ``trading/exchanges/paper.py``'s owner's hands::

    ADAPTER_FACTORIES["paper"] = lazy_factory("trading.exchanges.paper", "PaperExchange")

or, from that module, ``register_adapter("paper", PaperExchange)``.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from typing import Any

import ccxt

from trading.exchanges.base import ExchangeAdapter, UnknownExchange
from trading.exchanges.ccxt_adapter import CcxtAdapter

__all__ = [
    "ADAPTER_FACTORIES",
    "UnknownExchange",
    "adapter_for",
    "lazy_factory",
    "register_adapter",
    "supported_exchange_ids",
]

AdapterFactory = Callable[..., ExchangeAdapter]


def lazy_factory(module: str, attribute: str) -> AdapterFactory:
    """A factory that imports ``module.attribute`` on first use and calls it."""

    def factory(credentials: Any = None, **opts: Any) -> ExchangeAdapter:
        return getattr(importlib.import_module(module), attribute)(credentials, **opts)

    factory.__qualname__ = f"lazy_factory({module}.{attribute})"
    return factory


# Built-in (non-CCXT) exchanges. The paper exchange adds "paper" here.
ADAPTER_FACTORIES: dict[str, AdapterFactory] = {}


def register_adapter(exchange_id: str, factory: AdapterFactory) -> None:
    ADAPTER_FACTORIES[exchange_id] = factory


def supported_exchange_ids() -> list[str]:
    """Every exchange id ``adapter_for`` accepts: the built-in ones and CCXT's."""
    return sorted(set(ADAPTER_FACTORIES) | set(ccxt.exchanges))


def adapter_for(exchange_id: str, credentials: Mapping[str, str] | Any = None, **opts: Any) -> ExchangeAdapter:
    """The adapter for ``exchange_id``; ``opts`` go to the adapter (for CCXT: ``urls``, ``timeout_ms``...)."""
    key = (exchange_id or "").strip().lower()
    factory = ADAPTER_FACTORIES.get(key)
    if factory is not None:
        return factory(credentials, **opts)
    if key in ccxt.exchanges:
        return CcxtAdapter(key, credentials, **opts)
    built_in = ", ".join(sorted(ADAPTER_FACTORIES)) or "none"
    raise UnknownExchange(
        f"Unknown exchange {exchange_id!r}: it is not one of CCXT's {len(ccxt.exchanges)} exchange ids "
        f"(e.g. aster, binance, kraken) nor a built-in exchange ({built_in})."
    )
