"""Trading models, one module per concern."""

from trading.models.exchange_accounts import *  # noqa: F403
from trading.models.market_data import *  # noqa: F403
from trading.models.paper import *  # noqa: F403
