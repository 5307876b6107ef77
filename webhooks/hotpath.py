"""The receiver's hot path: the endpoint's row read with one prepared statement, the event written with
another, and the accepted event handed to the worker with one Redis command.

``CompiledSelect``: a queryset's SQL compiled by the ORM once per process and database, then run as a
server-side prepared statement (PostgreSQL plans it once per connection), its row turned into model instances
the way ``select_related`` does (``Model.from_db`` and Django's related populators). The ORM still writes the
SQL (tables, columns, joins), the query goes through Django's cursor wrapper (errors become ``DatabaseError``,
test captures and debug logs see it), and it costs a tenth of compiling it again for every request.

``CompiledInsert``: ``Model.objects.create`` for a plain model (automatic primary key, no parents, no
``order_with_respect_to``), with the INSERT compiled by the ORM once per process and database and prepared:
the same instance (``Model(**fields)``, every field's ``pre_save`` and ``get_db_prep_save``), the same
``pre_save``/``post_save`` signals, the primary key read back with ``RETURNING``.

``publish``: the Celery task message of ``webhooks.process_event``, built here (protocol 2, JSON, the same
headers and properties Celery writes) and pushed onto the queue's Redis list with one ``LPUSH``, which is what
kombu's Redis transport does at the end of a full ``apply_async`` (after routing, exchange look-up, producer
pool, signals). The worker consumes it like any other. Used only where it is the same thing: a Redis broker
without key prefix, not eager; otherwise (the embedded file-system broker, eager tests) ``delay`` is called.
"""

from __future__ import annotations

import base64
import os
import socket
import threading
import uuid
from collections.abc import Callable
from typing import Any

import orjson
import psycopg
from django.db import InterfaceError, OperationalError, connections, transaction
from django.db.models import Model, QuerySet, signals
from django.db.models.query import get_related_populators
from django.db.models.sql import InsertQuery

_MARK = "\x00webhooks.hotpath.parameter\x00"


class _PreparedCursor(psycopg.Cursor):
    """Server-side binding, prepared on first use (the connection keeps its prepared statements)."""

    def execute(self, query: Any, params: Any = None, *, prepare: bool | None = True, binary: bool | None = None):
        return super().execute(query, params, prepare=prepare, binary=binary)


def prepared_cursor(alias: str) -> Any:
    """Django's cursor wrapper around a prepared-statement cursor: what ``connection.cursor()`` does (health
    check, connect, error wrapping, query capture), with server-side binding for this one cursor."""
    connection = connections[alias]
    if connection.vendor != "postgresql":
        return connection.cursor()
    connection.close_if_health_check_failed()
    connection.ensure_connection()
    with connection.wrap_database_errors:
        cursor = _PreparedCursor(connection.connection)
        return connection._prepare_cursor(cursor)


class CompiledSelect:
    """``build(base, parameter)`` makes the queryset (one row at most, model instances, ``select_related``
    allowed) from a base queryset and one parameter; its SQL is compiled once per database with a marker in
    the parameter's place."""

    def __init__(self, build: Callable[[QuerySet, Any], QuerySet]) -> None:
        self.build = build
        self._compiled: dict[str, tuple[str, list[Any], int, Callable[[tuple], Any]]] = {}
        self._lock = threading.Lock()

    def first(self, base: QuerySet, parameter: Any) -> Any:
        alias = base.db
        compiled = self._compiled.get(alias)
        if compiled is None:
            with self._lock:
                compiled = self._compiled.get(alias) or self._compile(base, alias)
                self._compiled[alias] = compiled
        sql, params, slot, make = compiled
        params = list(params)
        params[slot] = parameter
        connection = connections[alias]
        # Django checks a reused connection before a request's first query (CONN_HEALTH_CHECKS: one more round
        # trip, ``SELECT 1``). This query only reads, so it is the check: if it fails on a connection that turns
        # out dead (the server restarted while it was idle), the connection is closed and the query runs once
        # more on a new one, as after a failed check.
        checking = (
            connection.vendor == "postgresql"
            and connection.connection is not None
            and connection.health_check_enabled
            and not connection.health_check_done
            and not connection.in_atomic_block
            and not getattr(connection, "pool", None)
        )
        if checking:
            connection.health_check_done = True
        try:
            row = self._fetch(alias, sql, params)
        except (OperationalError, InterfaceError):
            if not checking or connection.is_usable():
                raise
            connection.close()
            row = self._fetch(alias, sql, params)
        return None if row is None else make(row)

    @staticmethod
    def _fetch(alias: str, sql: str, params: list[Any]) -> tuple | None:
        with prepared_cursor(alias) as cursor:
            cursor.execute(sql, params)
            return cursor.fetchone()

    def _compile(self, base: QuerySet, alias: str) -> tuple[str, list[Any], int, Callable[[tuple], Any]]:
        queryset = self.build(base, _MARK)
        compiler = queryset.query.get_compiler(using=alias)
        sql, params = compiler.as_sql()
        params = list(params)
        slot = params.index(_MARK)
        select, klass_info = compiler.select, compiler.klass_info
        model = klass_info["model"]
        fields = klass_info["select_fields"]
        start, end = fields[0], fields[-1] + 1
        names = [column[0].target.attname for column in select[start:end]]
        populators = get_related_populators(klass_info, select, alias)
        converters = compiler.get_converters([column[0] for column in select])

        def make(row: tuple) -> Any:
            if converters:
                row = next(iter(compiler.apply_converters([row], converters)))
            obj = model.from_db(alias, names, row[start:end])
            for populator in populators:
                populator.populate(row, obj)
            return obj

        return sql, params, slot, make


class CompiledInsert:
    def __init__(self, model: type[Model]) -> None:
        meta = model._meta
        self.model = model
        self.plain = not meta.parents and meta.order_with_respect_to is None and meta.auto_field is not None
        self.fields = [f for f in meta.local_concrete_fields if not f.generated and f is not meta.auto_field]
        self.returning = meta.db_returning_fields
        self._sql: dict[str, str | None] = {}

    def save(self, obj: Model, alias: str) -> bool:
        """INSERT ``obj`` (new, its primary key unset) as ``obj.save(force_insert=True)`` would; False when this
        model or database needs the ORM's own save (the caller then uses it)."""
        connection = connections[alias]
        if not self.plain or connection.vendor != "postgresql" or obj.pk is not None:
            return False
        if any(hasattr(getattr(obj, field.attname), "resolve_expression") for field in self.fields):
            return False  # an expression (F(), a function) is the ORM's to compile
        sql = self._sql[alias] if alias in self._sql else self._compile(obj, alias)
        if sql is None:
            return False
        cls = self.model
        obj._prepare_related_fields_for_save(operation_name="save")
        signals.pre_save.send(sender=cls, instance=obj, raw=False, using=alias, update_fields=None)
        params = [field.get_db_prep_save(field.pre_save(obj, True), connection) for field in self.fields]
        with transaction.mark_for_rollback_on_error(alias):
            if any(hasattr(value, "resolve_expression") for value in params):  # set by a pre_save receiver
                obj._save_table(raw=False, cls=cls, force_insert=True, using=alias)
            else:
                with prepared_cursor(alias) as cursor:
                    cursor.execute(sql, params)
                    row = cursor.fetchone()
                for value, field in zip(row, self.returning, strict=True):
                    setattr(obj, field.attname, value)
        obj._state.adding = False
        obj._state.db = alias
        signals.post_save.send(sender=cls, instance=obj, created=True, update_fields=None, raw=False, using=alias)
        return True

    def _compile(self, obj: Model, alias: str) -> str | None:
        query = InsertQuery(self.model)
        query.insert_values(self.fields, [obj])
        compiler = query.get_compiler(using=alias)
        compiler.returning_fields = self.returning
        statements = compiler.as_sql()
        sql = statements[0][0] if len(statements) == 1 else None
        if sql is not None and sql.count("%s") != len(self.fields):  # a field with its own placeholder
            sql = None
        self._sql[alias] = sql
        return sql


# --- the enqueue -----------------------------------------------------------------------------------------

_ORIGIN = f"gen{os.getpid()}@{socket.gethostname()}"
_EMBED = {"callbacks": None, "errbacks": None, "chain": None, "chord": None}


class _Route:
    """Where and how ``task`` is published: resolved from Celery's own configuration once per process."""

    def __init__(self, task: Any) -> None:
        import redis
        from redis.backoff import NoBackoff
        from redis.retry import Retry

        app = task.app
        conf = app.conf
        route = app.amqp.router.route({}, task.name, (0,), {})
        queue = route["queue"]
        self.queue = queue.name
        self.exchange = route.get("exchange") or (queue.exchange.name if queue.exchange else "")
        self.routing_key = route.get("routing_key") or queue.routing_key or queue.name
        if hasattr(self.exchange, "name"):
            self.exchange = self.exchange.name
        self.task_name = task.name
        self.ignore_result = bool(task.ignore_result)
        self.timelimit = [
            task.time_limit if task.time_limit is not None else conf.task_time_limit,
            task.soft_time_limit if task.soft_time_limit is not None else conf.task_soft_time_limit,
        ]
        self.reply_to = app.thread_oid
        # The push happens inside the alert's request (after its commit): a broker that does not answer must not
        # use up TradingView's 3 seconds. One retry at once (a connection the broker closed while idle); beyond
        # that the event waits, stored, for the sweeper.
        self.client = redis.Redis.from_url(
            conf.broker_url,
            socket_connect_timeout=0.5,
            socket_timeout=1,
            retry=Retry(NoBackoff(), 1),
            health_check_interval=30,
        )
        self.pid = os.getpid()

    def message(self, args: tuple) -> bytes:
        task_id = str(uuid.uuid4())
        body = orjson.dumps([list(args), {}, _EMBED])
        envelope = {
            "body": base64.b64encode(body).decode(),
            "content-encoding": "utf-8",
            "content-type": "application/json",
            "headers": {
                "lang": "py",
                "task": self.task_name,
                "id": task_id,
                "shadow": None,
                "eta": None,
                "expires": None,
                "group": None,
                "group_index": None,
                "retries": 0,
                "timelimit": self.timelimit,
                "root_id": task_id,
                "parent_id": None,
                "argsrepr": repr(args),
                "kwargsrepr": "{}",
                "origin": _ORIGIN,
                "ignore_result": self.ignore_result,
                "replaced_task_nesting": 0,
                "stamped_headers": None,
                "stamps": {},
            },
            "properties": {
                "correlation_id": task_id,
                "reply_to": self.reply_to,
                "delivery_mode": 2,
                "delivery_info": {"exchange": self.exchange, "routing_key": self.routing_key},
                "priority": 0,
                "body_encoding": "base64",
                "delivery_tag": str(uuid.uuid4()),
            },
        }
        return orjson.dumps(envelope)


_routes: dict[str, _Route] = {}


def direct_publish_possible(task: Any) -> bool:
    """A Redis broker used as kombu's Redis transport does by default (no key prefix, no custom separator or
    priorities), and tasks really sent (not run eagerly)."""
    conf = task.app.conf
    if conf.task_always_eager:
        return False
    if not str(conf.broker_url or "").startswith(("redis://", "rediss://", "unix://")):
        return False
    return set(conf.broker_transport_options or {}) <= {"visibility_timeout"}


def publish(task: Any, *args: Any) -> bool:
    """Send ``task(*args)`` with one LPUSH when ``direct_publish_possible``; False when it is not (the caller
    uses ``delay``). Broker errors propagate (the caller decides: the sweeper re-sends)."""
    if not direct_publish_possible(task):
        return False
    route = _routes.get(task.name)
    if route is None or route.pid != os.getpid():
        route = _routes[task.name] = _Route(task)
    route.client.lpush(route.queue, route.message(args))
    return True
