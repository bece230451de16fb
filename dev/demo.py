"""``make demo``: sandbox EHR + app (gunicorn) + worker on this machine, embedded defaults.

Creates what the demo needs under ``.radar/`` (signing keys, a demo client secret, the embedded
Redis), passes the caller's environment through, prints the launcher URL and stops everything
on Ctrl-C. Every part dies with the supervisor, even when it is killed (SIGKILL).
"""
from __future__ import annotations

import contextlib
import json
import os
import secrets
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / ".radar"


def prepare_env() -> tuple[dict, object]:
    """The environment for the children; starts an embedded Redis when REDIS_URL is unset."""
    from app.smart.keys import generate_keys

    DATA.mkdir(exist_ok=True)
    env = dict(os.environ)
    jwks_file = DATA / "jwks.json"
    if not jwks_file.exists():
        jwks_file.write_text(json.dumps(generate_keys().as_dict(private=True)))
        jwks_file.chmod(0o600)
    env.setdefault("RADAR_JWKS_FILE", str(jwks_file))
    env.setdefault("RADAR_EHRS", str(ROOT / "dev" / "ehrs.json"))
    env.setdefault("RADAR_DEMO_CERNER_SECRET", secrets.token_urlsafe(24))
    env.setdefault("RADAR_DATA_DIR", str(DATA))
    # The URL the sandbox launches; CDS clients' JWTs must name it too (RADAR_CDS_CLIENTS needs it).
    env.setdefault("RADAR_PUBLIC_URL", "http://127.0.0.1:8000")
    embedded = None
    if not env.get("REDIS_URL"):
        from app.store import start_embedded

        embedded = start_embedded(DATA)
        env["REDIS_URL"] = f"unix://{embedded.socket_file}"
    return env, embedded


def wait_for(url: str, seconds: float = 60) -> bool:
    """Poll ``url`` until it answers 200."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            if httpx.get(url, timeout=1).status_code == 200:
                return True
        except httpx.HTTPError:
            pass
        time.sleep(0.3)
    return False


def start_children(commands: list[list[str]], env: dict) -> list[subprocess.Popen]:
    """Start the demo's parts, each in its own session, each ending when the supervisor does."""
    from app.store import parent_death_signal

    return [subprocess.Popen(cmd, env=env, cwd=ROOT, start_new_session=True,
                             preexec_fn=parent_death_signal(death_signal(cmd))) for cmd in commands]


def death_signal(cmd: list[str]) -> int:
    """What a part gets when the supervisor dies. The worker is killed at once: on SIGTERM it would
    first finish a running case, with nobody left to wait for it (its work horse dies with it)."""
    return signal.SIGKILL if Path(cmd[0]).name == "radar" else signal.SIGTERM


def main() -> int:
    """Start everything, print where to go, and wait for Ctrl-C."""
    env, embedded = prepare_env()
    bin_dir = Path(sys.executable).parent
    # Own sessions: Ctrl-C reaches only this supervisor, which then stops the parts in order.
    commands = [[sys.executable, "-m", "dev.sandbox", "--port", "8001"]]
    if env.get("RADAR_DEMO_STUB") == "1" and not env.get("RADAR_URL"):
        # No GPU here: a vLLM-compatible stub stands in for RaDaR so the whole flow can be shown.
        stub = [sys.executable, "-m", "dev.vllm_stub", "--port", "8002", "--delay", "0.03"]
        if (env.get("RADAR_PROMPT_PLACEMENT") or "").strip().lower() == "system":
            stub.append("--allow-system")  # the stub otherwise refuses system messages, as R1 distills want
        commands.append(stub)
        env["RADAR_URL"] = "http://127.0.0.1:8002/v1"
    commands += [[str(bin_dir / "gunicorn"), "-c", "launch/gunicorn.conf.py", "app:create_app()"],
                 [str(bin_dir / "radar"), "worker"]]
    children = start_children(commands, env)

    def stop(*_):
        for child in children:
            if child.poll() is None:
                child.terminate()
        for child in children:
            try:
                child.wait(timeout=10)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(child.pid, signal.SIGKILL)  # the part and what it started in its session
                child.wait()
        if embedded is not None:
            embedded.stop()

    signal.signal(signal.SIGTERM, lambda *_: (stop(), sys.exit(0)))
    # Explicit, because a shell that starts us in the background sets SIGINT to "ignore".
    signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        ok = wait_for("http://127.0.0.1:8000/healthz") and wait_for("http://127.0.0.1:8001/")
        if not ok or any(c.poll() is not None for c in children):
            print("demo: a part failed to start; see the messages above", file=sys.stderr)
            stop()
            return 1
        print("\n  RaDaR demo is running.\n"
              "  Launcher (sandbox EHR): http://127.0.0.1:8001/   <- open this and click a patient\n"
              "  App:                    http://127.0.0.1:8000/  (health: /healthz)\n"
              "  Ctrl-C stops everything.\n", flush=True)
        while all(c.poll() is None for c in children):
            time.sleep(1)
        print("demo: a part stopped; shutting down", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("\ndemo: stopping…", flush=True)
        return 0
    finally:
        stop()


if __name__ == "__main__":
    sys.exit(main())
