"""Celery: the schedule, enqueue-on-commit, and a round trip through the real broker to a real worker."""

import os
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path

import pytest
from django.db import connection, transaction
from django.utils import timezone
from django_celery_beat.models import IntervalSchedule, PeriodicTask

from accounts import services
from accounts.models import ApiToken
from accounts.tasks import purge_expired_api_tokens
from tests.conftest import needs_redis
from trading_site.celery import app as celery_app
from trading_site.schedule import PREFIX, SCHEDULE

ROOT = Path(__file__).resolve().parents[2]


def _expired_token(user):
    issued = services.api_token_issue(user=user, name="old", ttl_days=1)
    ApiToken.objects.filter(id=issued.token.id).update(
        created_at=timezone.now() - timedelta(days=3), expires_at=timezone.now() - timedelta(days=1)
    )
    return issued.token


@pytest.mark.django_db
def test_schedule_install_is_idempotent(capsys):
    from django.core.management import call_command

    every_hour = IntervalSchedule.objects.create(every=1, period=IntervalSchedule.HOURS)
    PeriodicTask.objects.create(name=PREFIX + "something retired", task="x.y", interval=every_hour)
    PeriodicTask.objects.create(name="staff-made entry", task="x.z", interval=every_hour)
    call_command("setup_periodic_tasks")
    assert f"{len(SCHEDULE)} periodic tasks installed, 1 removed." in capsys.readouterr().out
    call_command("setup_periodic_tasks")
    tasks = PeriodicTask.objects.filter(name__startswith=PREFIX)
    assert tasks.count() == len(SCHEDULE)
    assert PeriodicTask.objects.filter(name="staff-made entry").exists()
    by_name = {entry.full_name: entry for entry in SCHEDULE}
    for task in tasks:
        assert task.expire_seconds and task.expire_seconds > 0
        entry = by_name[task.name]
        if entry.every_seconds:  # sub-minute ticks are intervals
            assert task.crontab is None
            assert (task.interval.every, task.interval.period) == (entry.every_seconds, IntervalSchedule.SECONDS)
        else:
            assert task.interval is None
            assert task.crontab.timezone.key == "UTC"


def test_every_scheduled_task_exists():
    celery_app.loader.import_default_modules()
    for entry in SCHEDULE:
        assert entry.task in celery_app.tasks, entry.task


@pytest.mark.django_db(transaction=True)
def test_enqueue_waits_for_commit(alice, settings):
    token = _expired_token(alice)
    with transaction.atomic():
        assert purge_expired_api_tokens.delay() is None  # deferred: there is no result yet
        assert ApiToken.objects.filter(id=token.id).exists()  # not run inside the transaction
    assert not ApiToken.objects.filter(id=token.id).exists()  # ran (eagerly here) after commit


@pytest.mark.django_db(transaction=True)
def test_rolled_back_transaction_sends_nothing(alice, settings):
    token = _expired_token(alice)
    with pytest.raises(RuntimeError), transaction.atomic():
        purge_expired_api_tokens.delay()
        raise RuntimeError("the service failed")
    assert ApiToken.objects.filter(id=token.id).exists()


@pytest.mark.django_db(transaction=True)
def test_outside_a_transaction_the_result_is_returned(alice):
    _expired_token(alice)
    assert purge_expired_api_tokens.delay().get() == 1


@needs_redis
@pytest.mark.django_db(transaction=True)
def test_round_trip_through_redis_to_a_real_worker(alice, settings):
    """Start a real worker process on the test database, send a task through Redis, read its result."""
    settings.CELERY_TASK_ALWAYS_EAGER = False
    celery_app.conf.task_always_eager = False
    token = _expired_token(alice)

    db = connection.settings_dict
    env = {
        **os.environ,
        "DATABASE_URL": f"postgres://{db['USER']}@{db['HOST']}:{db['PORT']}/{db['NAME']}",
        "PYTHONPATH": str(ROOT),
    }
    queue = f"test-{os.getpid()}-{time.time_ns()}"
    worker = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "trading_site",
            "worker",
            "--pool",
            "solo",
            "-Q",
            queue,
            "--without-heartbeat",
            "--without-mingle",
            "--without-gossip",
            "-l",
            "warning",
        ],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        result = purge_expired_api_tokens.apply_async(queue=queue)
        assert result.get(timeout=60) == 1
    finally:
        worker.terminate()
        output = worker.communicate(timeout=30)[0].decode(errors="replace")
        celery_app.conf.task_always_eager = True
    assert not ApiToken.objects.filter(id=token.id).exists(), output
