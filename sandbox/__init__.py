"""The StackTach sandbox: the whole system on one machine, run by ``./build.sh``.

Not part of the installed distribution: ``./build.sh`` runs it from the
repository with ``.venv/bin/python -m sandbox``. Its modules:

* :mod:`sandbox.layout` - the ``var/`` folder (data, logs, pid files) and the
  configuration it writes there from ``etc/sandbox`` or ``etc/production``;
* :mod:`sandbox.provision` - the database (created, migrated) and the broker's
  exchange, queues and dead-letter queues;
* :mod:`sandbox.processes` - the processes (API, 2 yagi-event, 2
  pipeline-worker, notigen, a klugman shell) in ``screen`` or in the
  foreground, and stopping them;
* :mod:`sandbox.package` - the deployable tarball of ``./build.sh -p``;
* :mod:`sandbox.cli` - the commands ``./build.sh`` calls.
"""
