"""Discovery's speed (benchmarks/marketplace.py), on PostgreSQL: the out-of-sample sort's index orders listings
without the figure last, as the sort does (SQLite's indexes cannot say NULLS LAST); and trigram indexes serve the
text search (``icontains`` on the name, the description and the tags is ``UPPER(column::text) LIKE
UPPER('%…%')``, which pg_trgm's GIN indexes answer instead of reading every description). pg_trgm is a trusted
extension: the database's owner may create it."""

from django.db import migrations

COLUMNS = {"name": "name", "description": "description", "tags": "tags"}
POSTGRES = [
    "CREATE INDEX IF NOT EXISTS listing_status_oos ON marketplace_listing "
    "(status, oos_return_pct DESC NULLS LAST, published_at DESC)",
    "CREATE EXTENSION IF NOT EXISTS pg_trgm",
] + [
    f"CREATE INDEX IF NOT EXISTS listing_{key}_trgm ON marketplace_listing USING gin ((UPPER({column}::text)) gin_trgm_ops)"
    for key, column in COLUMNS.items()
]
POSTGRES_REVERSE = [f"DROP INDEX IF EXISTS listing_{key}_trgm" for key in COLUMNS] + [
    "DROP INDEX IF EXISTS listing_status_oos"
]


def _run(statements):
    def run(apps, schema_editor):
        if schema_editor.connection.vendor == "postgresql":
            for sql in statements:
                schema_editor.execute(sql, params=None)

    return run


class Migration(migrations.Migration):
    dependencies = [("marketplace", "0007_source_to_subscribers")]

    operations = [
        migrations.RemoveIndex(model_name="listing", name="listing_status_oos"),
        migrations.RunPython(_run(POSTGRES), _run(POSTGRES_REVERSE)),
    ]
