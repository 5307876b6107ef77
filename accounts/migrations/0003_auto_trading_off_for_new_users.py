"""Auto-trading is off for a new account (the trader turns it on in the onboarding's last step).

Only the model's default changes; Django keeps defaults in Python, not in the database, so this is a no-op on
PostgreSQL (and a table copy that keeps every value on SQLite): every existing user keeps the setting they have.
tests/onboarding/test_auto_trading.py checks it with the migration executor."""

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("accounts", "0002_exchange_accounts"),
    ]

    operations = [
        migrations.AlterField(
            model_name="user",
            name="auto_trading",
            field=models.BooleanField(
                default=False,
                help_text="Off stops every bot of this user at once: no new orders until it is turned on again.",
                verbose_name="auto-trading",
            ),
        ),
    ]
