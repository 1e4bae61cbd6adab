from django.apps import AppConfig


class TradingConfig(AppConfig):
    name = "trading"
    verbose_name = "Trading"

    def ready(self) -> None:
        from trading import signals  # noqa: F401
        from trading.exchanges.registry import lazy_factory, register_adapter

        register_adapter("paper", lazy_factory("trading.exchanges.paper", "paper_exchange_adapter"))
