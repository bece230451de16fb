"""The screen's progress bar on a terminal: patients done, rate and time left, from Spark's tracker.

Patients done come from an accumulator (updated as tasks finish); the share done and the time
left from the job group's task counts. Off a terminal (CI, a CronJob's log) nothing is drawn;
the summary at the end is printed either way.
"""
from __future__ import annotations

import sys
import threading
import time

WIDTH = 24


def line(patients: int, seconds: float, done_tasks: int, total_tasks: int) -> str:
    """One progress line: ``[####....]  1,234 patients  56/s  3/8 tasks  ~40 s left``."""
    share = done_tasks / total_tasks if total_tasks else 0.0
    filled = int(WIDTH * share)
    rate = patients / seconds if seconds > 0 else 0.0
    left = seconds * (1 - share) / share if share > 0 else None
    eta = "" if left is None or share >= 1 else f"  ~{_duration(left)} left"
    return (f"[{'#' * filled}{'.' * (WIDTH - filled)}] {patients:>9,} patients  {rate:6.0f}/s  "
            f"{done_tasks}/{total_tasks} tasks{eta}")


def _duration(seconds: float) -> str:
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 5400:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"


class Bar:
    """Draws :func:`line` on ``stream`` every ``every`` seconds while a Spark job group runs."""

    def __init__(self, stream=None, every: float = 0.5, force: bool = False):
        self.stream = stream or sys.stderr
        self.every = every
        self.enabled = force or (hasattr(self.stream, "isatty") and self.stream.isatty())
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self, sc, group: str, patients) -> None:
        """Start drawing for the jobs of ``group``; ``patients`` is the accumulator of patients done."""
        if not self.enabled:
            return
        self._started = time.monotonic()
        self._thread = threading.Thread(target=self._run, args=(sc.statusTracker(), group, patients), daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop drawing and end the line."""
        if self._thread is None:
            return
        self._stop.set()
        self._thread.join()
        self.stream.write("\n")
        self.stream.flush()

    def _run(self, tracker, group: str, patients) -> None:
        while not self._stop.wait(self.every):
            done = total = 0
            for job in tracker.getJobIdsForGroup(group):
                info = tracker.getJobInfo(job)
                for stage in (info.stageIds if info else ()):
                    s = tracker.getStageInfo(stage)
                    if s is not None:
                        done, total = done + s.numCompletedTasks, total + s.numTasks
            self.stream.write("\r" + line(patients.value, time.monotonic() - self._started, done, total))
            self.stream.flush()
