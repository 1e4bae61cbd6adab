"""The market data store's logic: one module per concern.

- ``candles``     series keys, timeframe arithmetic (UTC boundaries) and the candle validity rules
- ``services``    writes: ``candles_upsert`` (COPY + one INSERT; conflicts reported, never overwritten)
- ``selectors``   reads: ``candles_range`` (model rows), ``candle_arrays`` (numpy), ``available_series``,
                  ``series_gaps``
- ``blocks``      sealed spans packed column-wise (``CandleBlock``): the fast path of long array reads
- ``pgcopy``      binary COPY results decoded straight into numpy arrays
- ``importers``   CSV files and URLs (``candles_import_csv``, the ``import_candles`` command)
- ``gaps``        missing periods in a sorted run of open times
- ``resampling``  higher timeframes computed exactly in SQL from stored candles
- ``ingestion``   paged, resumable collection from exchanges through a fallback chain of sources
- ``tasks``       the Celery tasks that run ingestion
- ``prices``      the store as the paper exchange's ``PriceSource``
"""
