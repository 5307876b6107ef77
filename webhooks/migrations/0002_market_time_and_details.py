"""Each event's market time (the replay clock's time when it arrived; the wall clock's on the live clock), the
figures of its refusal or failure (``details``), and the risk envelope's adjustments as data instead of text.

Events stored before this migration get their wall-clock time as market time (what the pages showed until
now), and their adjustments, stored as ``"stop_loss_pct: defaulted none → 2.00"``, are read back into
``{"field", "action", "requested", "applied"}``."""

import re

import django.utils.timezone
from django.db import migrations, models
from django.db.models import F

ADJUSTMENT = re.compile(r"^(?P<field>\w+): (?P<action>\w+) (?P<requested>\S+) → (?P<applied>\S+)$")


def forwards(apps, schema_editor):
    WebhookEvent = apps.get_model("webhooks", "WebhookEvent")
    WebhookEvent.objects.filter(market_time__isnull=True).update(market_time=F("received_at"))
    for event in WebhookEvent.objects.exclude(adjustments=[]).only("pk", "adjustments").iterator():
        notes = []
        for note in event.adjustments or []:
            found = ADJUSTMENT.match(note) if isinstance(note, str) else None
            notes.append(found.groupdict() if found else note)
        if notes != event.adjustments:
            WebhookEvent.objects.filter(pk=event.pk).update(adjustments=notes)


def backwards(apps, schema_editor):
    WebhookEvent = apps.get_model("webhooks", "WebhookEvent")
    for event in WebhookEvent.objects.exclude(adjustments=[]).only("pk", "adjustments").iterator():
        notes = [
            f"{n['field']}: {n['action']} {n['requested']} → {n['applied']}" if isinstance(n, dict) else n
            for n in event.adjustments or []
        ]
        WebhookEvent.objects.filter(pk=event.pk).update(adjustments=notes)


class Migration(migrations.Migration):
    dependencies = [
        ("webhooks", "0001_initial"),
    ]

    operations = [
        migrations.AddField(
            model_name="webhookevent",
            name="details",
            field=models.JSONField(blank=True, default=dict),
        ),
        migrations.AddField(
            model_name="webhookevent",
            name="market_time",
            field=models.DateTimeField(null=True, verbose_name="market time"),
        ),
        migrations.RunPython(forwards, backwards),
        migrations.AlterField(
            model_name="webhookevent",
            name="market_time",
            field=models.DateTimeField(default=django.utils.timezone.now, verbose_name="market time"),
        ),
    ]
