from __future__ import annotations

from celery import shared_task
from celery.signals import worker_init, worker_process_init


@shared_task(name="strategies.execute_backtest_run", acks_late=True, time_limit=900, soft_time_limit=840)
def execute_backtest_run(run_id: int) -> str:
    from strategies.services import backtest_run_execute

    return backtest_run_execute(run_id=run_id)


@shared_task(name="strategies.fail_stale_runs")
def fail_stale_runs() -> int:
    from strategies.services import backtest_runs_fail_stale

    return backtest_runs_fail_stale()


@worker_init.connect
def _warm_up_pine(**kwargs: object) -> None:
    """Warm the Pine parser in the worker's main process, before the pool forks: every child inherits it."""
    from django.conf import settings

    if settings.TRENDY_PINE_WARM_UP:
        from strategies.warmup import warm_up_pine

        warm_up_pine()


@worker_process_init.connect
def _warm_up_kernels(**kwargs: object) -> None:
    """Pay numba's compile (or on-disk cache load) once per worker process, not inside a task."""
    from strategies.warmup import warm_up

    warm_up()
