"""gunicorn settings for the web app (``gunicorn -c launch/gunicorn.conf.py 'app:create_app()'``)."""
import os
import sys

bind = os.environ.get("RADAR_BIND", "127.0.0.1:8000")
worker_class = "gthread"
workers = int(os.environ.get("RADAR_WEB_WORKERS", "2"))
threads = int(os.environ.get("RADAR_WEB_THREADS", "8"))
# Load the app (and later the knowledge files) once in the master, then fork.
preload_app = True
timeout = 60
# Idle keep-alive connections are kept longer than gunicorn's 2 s default: CDS clients and load
# balancers reuse pooled connections, and a connection closed just as it is reused fails the call.
keepalive = 30
graceful_timeout = 20
# URLs carry launch codes and session ids: the app logs its own PHI-free request lines instead.
accesslog = None
forwarded_allow_ips = os.environ.get("RADAR_FORWARDED_ALLOW_IPS", "127.0.0.1")
# gunicorn's control socket defaults to one path per user: two instances on one host would share
# it (one could reload or stop the other). Each instance keeps its own in its data directory.
_data_dir = os.environ.get("RADAR_DATA_DIR") or ".radar"
os.makedirs(_data_dir, exist_ok=True)
control_socket = os.path.join(os.path.abspath(_data_dir), "gunicorn.ctl")


def on_starting(server):
    """Fail fast with a readable message when the configuration is wrong."""
    from app.config import ConfigError, load_settings

    try:
        load_settings()
    except ConfigError as exc:
        sys.stderr.write(f"radar: configuration error: {exc}\n")
        sys.exit(2)
