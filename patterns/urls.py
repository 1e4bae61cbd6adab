"""Pattern-search pages, mounted at ``/o/<org_slug>/patterns/``."""

from django.urls import path

from patterns.views import analysis, chart, corpora, search

org_patterns = [
    path("", corpora.corpus_list, name="patterns_corpus_list"),
    path("corpora/new/", corpora.corpus_create, name="patterns_corpus_create"),
    path("corpora/<int:corpus_id>/", corpora.corpus_detail, name="patterns_corpus_detail"),
    path("corpora/<int:corpus_id>/status/", corpora.corpus_status, name="patterns_corpus_status"),
    path("corpora/<int:corpus_id>/upload/", corpora.corpus_upload, name="patterns_corpus_upload"),
    path("corpora/<int:corpus_id>/events/", corpora.corpus_event_add, name="patterns_corpus_event_add"),
    path("corpora/<int:corpus_id>/reindex/", corpora.corpus_reindex, name="patterns_corpus_reindex"),
    path("corpora/<int:corpus_id>/delete/", corpora.corpus_delete, name="patterns_corpus_delete"),
    path("corpora/<int:corpus_id>/search/", search.corpus_search, name="patterns_search"),
    path("corpora/<int:corpus_id>/analysis/", analysis.corpus_analysis, name="patterns_analysis"),
    path("corpora/<int:corpus_id>/walk-forward/", analysis.corpus_walk_forward, name="patterns_walk_forward"),
    path("corpora/<int:corpus_id>/chart/", chart.corpus_chart, name="patterns_chart"),
    path("corpora/<int:corpus_id>/chart/data/", chart.corpus_chart_data, name="patterns_chart_data"),
]
