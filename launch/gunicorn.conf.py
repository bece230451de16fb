"""gunicorn settings for the web app (``gunicorn -c launch/gunicorn.conf.py 'app:create_app()'``).

The values come from ``app.config`` (``RADAR_BIND``, ``RADAR_WEB_WORKERS``, ``RADAR_WEB_THREADS``,
``RADAR_FORWARDED_ALLOW_IPS``, ``RADAR_DATA_DIR``), where every ``RADAR_*`` variable is parsed.
"""
import os
import sys

from app.config import ConfigError, web_server

try:
    _web = web_server()
except ConfigError as exc:
    sys.stderr.write(f"radar: configuration error: {exc}\n")
    sys.exit(2)

bind = _web.bind
worker_class = "gthread"
workers = _web.workers
threads = _web.threads
# Load the app (and later the knowledge files) once in the master, then fork.
preload_app = True
timeout = 60
# Idle keep-alive connections are kept longer than gunicorn's 2 s default: CDS clients and load
# balancers reuse pooled connections, and a connection closed just as it is reused fails the call.
keepalive = 30
graceful_timeout = 20
# URLs carry launch codes and session ids: the app logs its own PHI-free request lines instead.
accesslog = None
forwarded_allow_ips = _web.forwarded_allow_ips
# gunicorn's control socket defaults to one path per user: two instances on one host would share
# it (one could reload or stop the other). Each instance keeps its own in its data directory.
os.makedirs(_web.data_dir, exist_ok=True)
control_socket = os.path.join(os.path.abspath(_web.data_dir), "gunicorn.ctl")


def on_starting(server):
    """Fail fast with a readable message when the configuration is wrong."""
    from app.config import load_settings

    try:
        load_settings()
    except ConfigError as exc:
        sys.stderr.write(f"radar: configuration error: {exc}\n")
        sys.exit(2)
