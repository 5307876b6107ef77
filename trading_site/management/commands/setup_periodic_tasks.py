from __future__ import annotations

import json
from typing import Any

from django.core.management.base import BaseCommand
from django.db import transaction
from django_celery_beat.models import CrontabSchedule, IntervalSchedule, PeriodicTask

from trading_site.schedule import PREFIX, SCHEDULE


class Command(BaseCommand):
    help = "Install the periodic tasks of trading_site/schedule.py into django-celery-beat (idempotent)."

    @transaction.atomic
    def handle(self, *args: Any, **options: Any) -> None:
        names = set()
        for entry in SCHEDULE:
            if entry.every_seconds:
                interval, _ = IntervalSchedule.objects.get_or_create(
                    every=entry.every_seconds, period=IntervalSchedule.SECONDS
                )
                PeriodicTask.objects.update_or_create(
                    name=entry.full_name,
                    defaults={
                        "task": entry.task,
                        "crontab": None,
                        "interval": interval,
                        "kwargs": json.dumps(entry.kwargs),
                        "expire_seconds": entry.expires_seconds,
                        "enabled": True,
                    },
                )
                names.add(entry.full_name)
                continue
            minute, hour, day_of_month, month_of_year, day_of_week = entry.crontab.split()
            crontab, _ = CrontabSchedule.objects.get_or_create(
                minute=minute,
                hour=hour,
                day_of_month=day_of_month,
                month_of_year=month_of_year,
                day_of_week=day_of_week,
                timezone="UTC",
            )
            PeriodicTask.objects.update_or_create(
                name=entry.full_name,
                defaults={
                    "task": entry.task,
                    "crontab": crontab,
                    "interval": None,
                    "kwargs": json.dumps(entry.kwargs),
                    "expire_seconds": entry.expires_seconds,
                    "enabled": True,
                },
            )
            names.add(entry.full_name)
        # Our own entries that left the schedule are removed; anything else (per-bot, staff-made) stays.
        removed, _ = PeriodicTask.objects.filter(name__startswith=PREFIX).exclude(name__in=names).delete()
        self.stdout.write(f"{len(names)} periodic tasks installed, {removed} removed.")
