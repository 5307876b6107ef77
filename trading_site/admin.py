"""The admin site's names, and filters and search for the admins that libraries register without them.

``trading_site`` is the last installed app, so by the time this module is imported every other app's admin
is registered and can be replaced here.
"""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.utils.translation import gettext_lazy as _
from django_celery_beat import admin as beat_admin
from django_celery_beat.models import (
    ClockedSchedule,
    CrontabSchedule,
    IntervalSchedule,
    PeriodicTask,
    SolarSchedule,
)

from trading_site.admin_filters import titled

admin.site.site_header = _("Trendy administration")
admin.site.site_title = _("Trendy administration")
admin.site.index_title = _("Overview")


class PeriodicTaskAdmin(beat_admin.PeriodicTaskAdmin):
    """Celery beat's admin (it already filters and searches), with our names where its own are untranslatable
    (the task's ``verbose_name`` and the ``scheduler`` property have none)."""

    list_display = ("name", "enabled", "schedule", "start_time", "last_run_at", "one_off")
    list_filter = ("enabled", "one_off", ("task", titled(_("task"))), "start_time", "last_run_at")

    @admin.display(description=_("schedule"))
    def schedule(self, task: PeriodicTask) -> Any:
        return task.scheduler  # interval, crontab, solar and clocked come with the row (select_related)


# A schedule is found by the periodic task that uses it (a task has one schedule; a schedule may serve many).
SCHEDULE_SEARCH = ["periodictask__name", "periodictask__task"]


class IntervalScheduleAdmin(beat_admin.IntervalScheduleAdmin):
    list_filter = ["period"]
    search_fields = SCHEDULE_SEARCH


class CrontabScheduleAdmin(beat_admin.CrontabScheduleAdmin):
    list_display = ["__str__", "in_words"]
    list_filter = ["timezone", "hour", "day_of_week"]
    search_fields = SCHEDULE_SEARCH

    @admin.display(description=_("in words"))
    def in_words(self, crontab: CrontabSchedule) -> str:
        return crontab.human_readable


class SolarScheduleAdmin(beat_admin.SolarScheduleAdmin):
    list_filter = ["event"]
    search_fields = SCHEDULE_SEARCH


class ClockedScheduleAdmin(beat_admin.ClockedScheduleAdmin):
    list_filter = ["clocked_time"]
    search_fields = SCHEDULE_SEARCH
    date_hierarchy = "clocked_time"


for _model, _admin_class in (
    (PeriodicTask, PeriodicTaskAdmin),
    (IntervalSchedule, IntervalScheduleAdmin),
    (CrontabSchedule, CrontabScheduleAdmin),
    (SolarSchedule, SolarScheduleAdmin),
    (ClockedSchedule, ClockedScheduleAdmin),
):
    admin.site.unregister(_model)
    admin.site.register(_model, _admin_class)
