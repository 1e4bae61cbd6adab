"""HTML pages of pattern search under ``/o/<org_slug>/patterns/``: corpora, search, analysis,
walk-forward and the price chart with astro overlays. Thin: a form parses the request, one
service or selector does the work, a template renders it. Corpora are reached only through
``patterns.selectors`` (another organization's private corpus is a 404)."""
