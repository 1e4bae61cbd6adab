from django.apps import AppConfig


class TradingConfig(AppConfig):
    name = "trading"
    verbose_name = "Trading"

    def ready(self) -> None:
        from accounts.demo import demo_seeder_register
        from trading import signals  # noqa: F401
        from trading.demo import demo_market_data_seed
        from trading.exchanges.registry import lazy_factory, register_adapter

        register_adapter("paper", lazy_factory("trading.exchanges.paper", "paper_exchange_adapter"))
        demo_seeder_register(name="trading.market_data", seed=demo_market_data_seed, order=100)
