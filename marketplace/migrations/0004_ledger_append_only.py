"""The ledger is append-only, in the database and not only in the model: PostgreSQL (and SQLite) refuse an UPDATE or
a DELETE of a ledger line, whoever sends it (the ORM, the admin, raw SQL). On PostgreSQL a deferred constraint
trigger also refuses, at commit, a transaction whose lines do not sum to zero."""

from django.db import migrations

POSTGRES = [
    """
    CREATE OR REPLACE FUNCTION marketplace_ledger_append_only() RETURNS trigger AS $$
    BEGIN
        RAISE EXCEPTION 'the marketplace ledger is append-only: % refused', TG_OP
            USING ERRCODE = 'restrict_violation';
    END
    $$ LANGUAGE plpgsql
    """,
    """
    CREATE TRIGGER marketplace_ledger_no_change BEFORE UPDATE OR DELETE ON marketplace_ledgerentry
    FOR EACH ROW EXECUTE FUNCTION marketplace_ledger_append_only()
    """,
    """
    CREATE OR REPLACE FUNCTION marketplace_ledger_balanced() RETURNS trigger AS $$
    DECLARE total numeric;
    BEGIN
        SELECT sum(amount) INTO total FROM marketplace_ledgerentry WHERE txn = NEW.txn;
        IF total <> 0 THEN
            RAISE EXCEPTION 'ledger transaction % does not balance: its lines sum to %', NEW.txn, total
                USING ERRCODE = 'check_violation';
        END IF;
        RETURN NULL;
    END
    $$ LANGUAGE plpgsql
    """,
    """
    CREATE CONSTRAINT TRIGGER marketplace_ledger_balanced AFTER INSERT ON marketplace_ledgerentry
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION marketplace_ledger_balanced()
    """,
]
POSTGRES_REVERSE = [
    "DROP TRIGGER IF EXISTS marketplace_ledger_balanced ON marketplace_ledgerentry",
    "DROP FUNCTION IF EXISTS marketplace_ledger_balanced()",
    "DROP TRIGGER IF EXISTS marketplace_ledger_no_change ON marketplace_ledgerentry",
    "DROP FUNCTION IF EXISTS marketplace_ledger_append_only()",
]
SQLITE = [
    """
    CREATE TRIGGER marketplace_ledger_no_update BEFORE UPDATE ON marketplace_ledgerentry
    BEGIN SELECT RAISE(ABORT, 'the marketplace ledger is append-only: UPDATE refused'); END
    """,
    """
    CREATE TRIGGER marketplace_ledger_no_delete BEFORE DELETE ON marketplace_ledgerentry
    BEGIN SELECT RAISE(ABORT, 'the marketplace ledger is append-only: DELETE refused'); END
    """,
]
SQLITE_REVERSE = [
    "DROP TRIGGER IF EXISTS marketplace_ledger_no_update",
    "DROP TRIGGER IF EXISTS marketplace_ledger_no_delete",
]


def _run(statements: dict[str, list[str]]):
    def run(apps, schema_editor):
        for sql in statements.get(schema_editor.connection.vendor, []):
            schema_editor.execute(sql, params=None)

    return run


class Migration(migrations.Migration):
    dependencies = [("marketplace", "0003_payments")]

    operations = [
        migrations.RunPython(
            _run({"postgresql": POSTGRES, "sqlite": SQLITE}),
            _run({"postgresql": POSTGRES_REVERSE, "sqlite": SQLITE_REVERSE}),
        )
    ]
