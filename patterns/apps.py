from django.apps import AppConfig


class PatternsConfig(AppConfig):
    name = "patterns"

    def ready(self) -> None:
        from accounts.demo import demo_seeder_register
        from patterns.demo import demo_pattern_corpora_seed

        # After trading's market data: the public corpora use the candles it imported.
        demo_seeder_register(name="patterns.public_corpora", seed=demo_pattern_corpora_seed, order=200)
