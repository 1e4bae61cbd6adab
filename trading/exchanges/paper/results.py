"""Paper rows as the adapter protocol's typed results."""

from __future__ import annotations

from trading.exchanges.base import FundingRate, Order, OrderSide, OrderStatus, OrderType
from trading.models.paper import PaperFunding, PaperOrder


def order_result(order: PaperOrder, quote: str) -> Order:
    return Order(
        symbol=order.symbol,
        side=OrderSide(order.side),
        order_type=OrderType(order.order_type),
        status=OrderStatus(order.status),
        quantity=order.quantity,
        filled_quantity=order.filled_quantity,
        client_order_id=order.client_order_id,
        exchange_order_id=order.exchange_order_id,
        price=order.price,
        average_price=order.average_price,
        fee=order.fee_paid,
        fee_asset=quote,
        reduce_only=order.reduce_only,
        created_at=order.created_at,
        updated_at=order.updated_at,
    )


def funding_result(funding: PaperFunding) -> FundingRate:
    return FundingRate(
        symbol=funding.symbol, rate=funding.rate, funding_time=funding.funding_time, mark_price=funding.mark_price
    )
