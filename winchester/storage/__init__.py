"""The storage API: every SQL statement of winchester lives in this package.

Ingest (:mod:`winchester.ingest`), the pipeline worker
(:mod:`winchester.pipeline`), the clock (:mod:`winchester.clock`) and quince call
the functions below; none of them builds SQL of its own. Importing this package
opens nothing (STYLE §7); an engine comes from :func:`engine.connect`.

Map (one module per concern)

=================  ============================================================
``schema``         the tables (SQLAlchemy Core), the single source of the layout
``limits``         what an event must fit into (column limits, packet size):
                   ``check_event``, ``check_stream_key``, ``limits_for(engine)``
``events``         ``insert_events`` (batch insert that skips only duplicates and
                   returns exactly the new rows), ``insert_trait_index``
``streams``        ingest's side of streams: ``lock_open``, ``create``,
                   ``close_keys``, ``update``, ``link_events``, ``closed_keys``,
                   ``add_dist_traits``
``lifecycle``      the pipeline worker's side: ``claim``, ``renew`` (leases of
                   held streams, one guarded UPDATE), ``complete``, ``fail``,
                   ``take_back_lapsed``, ``reset``, ``reset_errors``,
                   ``errored_triggers``, ``load_events`` (guarded statements)
``retention``      ``purge_streams`` (finished streams, in the completing
                   transaction), ``EventTrimmer`` (old events, bounded batches)
``counters``       per-trigger counters and the event-time high-water mark
                   (``add_trigger_counters``, ``read_trigger_counters``,
                   ``raise_clock_mark``, ``read_clock_mark``)
``queries``        the API's query layer (quince): ``event_by_message_id``,
                   ``event_by_id``, ``stream_by_id``, ``list_events``,
                   ``count_events``, ``list_streams``, ``count_streams``,
                   ``stream_events``, ``delete_stream`` (pages keyed on the id,
                   typed trait filters through ``trait_index``)
``summaries``      event types and their traits, the metrics snapshot, ping
                   (re-exported by ``queries``)
``names``          interning event type and trait names (``NameCache``)
``values``         how trait values are encoded, hashed and keyed
``dialect``        the few statements whose SQL differs per backend
``bulk``           fast executemany of narrow rows; ``insert_integers`` (rows
                   of ints: one literal on MariaDB, unnest arrays on PostgreSQL)
``engine``         ``connect``, ``run_transaction``, ``DatabaseUnavailable``,
                   ``is_data_error``
``migrate``        alembic migrations (``winchester-db upgrade``)
=================  ============================================================

Transaction rules

* Functions that take a ``Connection`` run inside the **caller's** transaction
  and never commit; the caller wraps its unit of work in
  :func:`engine.run_transaction`, which runs it again from the start on
  contention (deadlock, lock timeout, serialisation failure, duplicate key of a
  concurrent writer, busy SQLite) and raises ``DatabaseUnavailable`` when the
  database cannot be reached. So every such function must be safe to re-run.
* Name interning (:mod:`names`) runs in short transactions of its own, before
  the work that uses the ids, never inside it.
* Inserts ignore **only** a duplicate key (never ``INSERT IGNORE``); MySQL
  sessions are strict, so an over-long or out-of-range value is an error. Errors
  caused by the data (:func:`engine.is_data_error`) are not retried: the caller
  isolates the culprit (ingest bisects its batch).
* Locks are taken in key order (``lock_open``), state changes are single guarded
  statements that say which state and lease they expect (``lifecycle``).
* All times are aware UTC datetimes, in and out.
"""
