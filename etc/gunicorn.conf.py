# gunicorn.conf.py - serving quince, StackTach's REST API, with gunicorn
# directly (production), instead of the quince-api wrapper:
#
#   STACKTACH_CONFIG=/etc/stacktach/winchester.yaml \
#       gunicorn -c /etc/stacktach/gunicorn.conf.py 'quince.app:create_app()'
#
# create_app() reads the winchester.yaml named by STACKTACH_CONFIG (its
# database and its "api" section). Run `winchester-db -c ... upgrade` first:
# the workers refuse to serve an outdated schema. Put a load balancer (HAProxy,
# nginx) in front of several API hosts: every worker is stateless and reads the
# database, the single source of truth.
# Settings reference: https://docs.gunicorn.org/en/stable/settings.html
import multiprocessing
import os

# Listen on every interface of the API host; the load balancer is the client.
bind = os.environ.get("STACKTACH_API_BIND", "0.0.0.0:8000")

# Sync workers: each request holds a database connection for its duration.
# Two per core is a good start; the live stream (GET /v1/stream) holds a worker
# per client, so add workers (or a threaded worker class) if many watch it.
workers = int(os.environ.get("STACKTACH_API_WORKERS", multiprocessing.cpu_count() * 2))
worker_class = "sync"

# Kill a worker stuck longer than this (a slow query) and start a fresh one.
timeout = 60
graceful_timeout = 30
keepalive = 5

# Recycle workers now and then, with jitter so they do not restart together.
max_requests = 10000
max_requests_jitter = 1000

# Access log to stdout (the journal under systemd); never log request headers,
# which would show the API token.
accesslog = "-"
errorlog = "-"
access_log_format = '%(h)s "%(r)s" %(s)s %(b)s %(M)sms'
loglevel = "info"
proc_name = "quince-api"

# Each worker builds its own app and database engine after the fork (no
# connection is shared between processes). Run `check-config` before a
# restart: a bad configuration makes every worker fail to boot.
preload_app = False
