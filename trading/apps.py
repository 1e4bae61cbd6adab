from django.apps import AppConfig


class TradingConfig(AppConfig):
    name = "trading"
    verbose_name = "Trading"

    def ready(self) -> None:
        from accounts.demo import demo_seeder_register
        from asterweb.events import event_subscribe
        from trading.demo import demo_market_data_seed
        from trading.exchanges.registry import lazy_factory, register_adapter
        from trading.subscribers import paper_account_for_new_organization

        register_adapter("paper", lazy_factory("trading.exchanges.paper", "paper_exchange_adapter"))
        event_subscribe(
            name="trading.paper_account",
            handle=paper_account_for_new_organization,
            types=["organization.created"],
            in_transaction=True,
        )
        demo_seeder_register(name="trading.market_data", seed=demo_market_data_seed, order=100)
