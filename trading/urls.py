from django.urls import path

from trading import views

org_patterns = [
    path("exchange-accounts/", views.exchange_account_list, name="exchange_account_list"),
    path("exchange-accounts/add/", views.exchange_account_add, name="exchange_account_add"),
    path(
        "exchange-accounts/<int:account_id>/credentials/",
        views.exchange_account_credentials,
        name="exchange_account_credentials",
    ),
    path("exchange-accounts/<int:account_id>/test/", views.exchange_account_test, name="exchange_account_test"),
    path("exchange-accounts/<int:account_id>/remove/", views.exchange_account_remove, name="exchange_account_remove"),
    path(
        "exchange-accounts/<int:account_id>/markets/", views.exchange_account_markets, name="exchange_account_markets"
    ),
    path("market-data/", views.candle_chart, name="candle_chart"),
]
