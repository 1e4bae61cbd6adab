"""A local stand-in for Aster DEX's v3 futures API (REST + kline websocket) that the real CCXT
library talks to in tests: real EIP-712 signature checks, an in-memory venue, recorded
requests and on-demand faults. See ``server.AsterTestServer``."""

from .server import ORDER_PATH, AsterTestServer, RecordedRequest
from .signing import sign_params
from .state import ApiError, VenueState

__all__ = ["ORDER_PATH", "ApiError", "AsterTestServer", "RecordedRequest", "VenueState", "sign_params"]
