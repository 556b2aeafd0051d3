"""Scheduled retraining for the local runner.

Every interval (or cron minute), look at the data root: when the input changed since
the last successful run (a new span-N/ folder, or new/changed files when there are
no spans), run the pipeline; otherwise say so and wait. A lock file keeps two runs
(scheduled or by hand) from ever overlapping.
"""
from __future__ import annotations

import datetime as dt
import fcntl
import hashlib
import json
import os
import re
import time
from contextlib import contextmanager
from typing import Callable, Optional

from models.errors import WaveGANError
from pipeline.config import PipelineConfig

UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
STATE_FILE = "schedule_state.json"
LOCK_FILE = ".pipeline.lock"


class ScheduleError(WaveGANError, ValueError):
    pass


class AlreadyRunning(WaveGANError):
    pass


def parse_every(text: str) -> int:
    """'30m', '6h', '1d', '90s' -> seconds."""
    match = re.fullmatch(r"\s*(\d+)\s*([smhd])\s*", text or "")
    if not match or int(match.group(1)) == 0:
        raise ScheduleError(f"invalid interval {text!r}: use e.g. 30m, 6h or 1d")
    return int(match.group(1)) * UNITS[match.group(2)]


class Cron:
    """A cron expression, read by croniter as cron reads it: 5 fields (m h dom mon dow), names
    (`mon`, `jan`), `@daily`-style aliases, and day-of-month OR day-of-week when both are set;
    or KFP's 6 fields with seconds first (s m h dom mon dow), so one expression serves both schedulers."""

    def __init__(self, expression: str):
        from croniter import croniter
        self.expression = " ".join((expression or "").split())
        self.with_seconds = len(self.expression.split()) == 6
        if not croniter.is_valid(self.expression, second_at_beginning=self.with_seconds):
            raise ScheduleError(f"invalid cron expression {expression!r}: use 5 fields (m h dom mon dow, e.g. "
                                f"'0 3 * * *'), 6 with seconds first, or @hourly/@daily/@weekly/@monthly")

    def next_after(self, when: dt.datetime) -> dt.datetime:
        from croniter import croniter
        return croniter(self.expression, when, second_at_beginning=self.with_seconds).get_next(dt.datetime)

    def for_kubeflow(self) -> str:
        """KFP's 6-field form (seconds first) of this expression."""
        if self.with_seconds:
            return self.expression
        if self.expression.startswith("@"):
            return KFP_ALIASES[self.expression.lower()]
        return "0 " + self.expression


KFP_ALIASES = {"@yearly": "0 0 0 1 1 *", "@annually": "0 0 0 1 1 *", "@monthly": "0 0 0 1 * *",
               "@weekly": "0 0 0 * * 0", "@daily": "0 0 0 * * *", "@midnight": "0 0 0 * * *",
               "@hourly": "0 0 * * * *"}


def input_fingerprint(cfg: PipelineConfig) -> str:
    """Identifies the input the next run would ingest (latest span, or the whole root)."""
    import tensorflow as tf
    from components.audio_ingest import list_input_files
    pattern = cfg.resolved_input_pattern()
    if "{SPAN}" in pattern:
        spans = [int(m.group(1)) for name in tf.io.gfile.listdir(cfg.data_root)
                 if (m := re.fullmatch(r"span-(\d+)/?", name))]
        pattern = pattern.replace("{SPAN}", str(max(spans)))
    digest = hashlib.sha256()
    for path in list_input_files(cfg.data_root, pattern):
        stat = tf.io.gfile.stat(path)
        digest.update(f"{path}\0{stat.length}\0{stat.mtime_nsec}\n".encode())
    return f"{pattern}:{digest.hexdigest()}"


@contextmanager
def pipeline_lock(cfg: PipelineConfig):
    """Held for the whole of a run; a second run raises AlreadyRunning at once."""
    os.makedirs(cfg.output_dir, exist_ok=True)
    with open(os.path.join(cfg.output_dir, LOCK_FILE), "w") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise AlreadyRunning(f"another pipeline run is in progress on {cfg.output_dir}") from None
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _state(cfg: PipelineConfig) -> dict:
    path = os.path.join(cfg.output_dir, STATE_FILE)
    return json.load(open(path)) if os.path.exists(path) else {}


def check_and_run(cfg: PipelineConfig, run: Callable[[PipelineConfig], dict], out: Callable[[str], None]) -> str:
    """One scheduler tick: 'ran', 'no-new-data' or 'busy'."""
    fingerprint = input_fingerprint(cfg)
    if _state(cfg).get("fingerprint") == fingerprint:
        out(f"{_now()} no new data in {cfg.data_root} since the last run: nothing to do")
        return "no-new-data"
    out(f"{_now()} new data in {cfg.data_root} ({fingerprint.split(':')[0]}): running the pipeline")
    try:
        run(cfg)
    except AlreadyRunning as error:
        out(f"{_now()} {error}: skipped this tick")
        return "busy"
    with open(os.path.join(cfg.output_dir, STATE_FILE), "w") as f:
        json.dump({"fingerprint": fingerprint, "finished": _now()}, f)
    return "ran"


def run_schedule(cfg: PipelineConfig, run: Callable[[PipelineConfig], dict], out: Callable[[str], None],
                 every_seconds: int = 0, cron: Optional[Cron] = None, max_ticks: int = 0) -> None:
    """Ticks now, then every interval or cron match; max_ticks > 0 stops after that many."""
    ticks = 0
    while True:
        try:
            check_and_run(cfg, run, out)
        except Exception as error:  # noqa: BLE001 - a failed run is reported; the schedule goes on
            out(f"{_now()} run failed: {error}")
        ticks += 1
        if max_ticks and ticks >= max_ticks:
            return
        now = dt.datetime.now()
        wake = cron.next_after(now) if cron else now + dt.timedelta(seconds=every_seconds)
        out(f"{_now()} next check at {wake:%Y-%m-%d %H:%M:%S}")
        time.sleep(max(0.0, (wake - dt.datetime.now()).total_seconds()))


def _now() -> str:
    return dt.datetime.now().strftime("%Y-%m-%d %H:%M:%S")
