"""The headline HNSW index moves to the half-precision copy of each vector.

The new index is built before the old one is dropped, both without blocking writes, so
headline search keeps an index throughout the deploy (queries switch to the new one when
the new code that orders by ``vector::halfvec(384)`` is running)."""

import django.contrib.postgres.indexes
import django.db.models.functions.comparison
import pgvector.django.halfvec
import pgvector.django.indexes
from django.contrib.postgres.operations import AddIndexConcurrently, RemoveIndexConcurrently
from django.db import migrations


class Migration(migrations.Migration):
    atomic = False

    dependencies = [
        ("patterns", "0003_dayvector_combined_inline"),
    ]

    operations = [
        AddIndexConcurrently(
            model_name="headline",
            index=pgvector.django.indexes.HnswIndex(
                django.contrib.postgres.indexes.OpClass(
                    django.db.models.functions.comparison.Cast(
                        "vector", pgvector.django.halfvec.HalfVectorField(dimensions=384)
                    ),
                    name="halfvec_ip_ops",
                ),
                ef_construction=100,
                m=16,
                name="patterns_headline_halfvec_hnsw",
            ),
        ),
        RemoveIndexConcurrently(
            model_name="headline",
            name="patterns_headline_hnsw",
        ),
    ]
