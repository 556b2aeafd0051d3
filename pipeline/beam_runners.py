"""Where the Beam steps (ingest, statistics, validation) run, as Beam pipeline options.

direct: Beam's DirectRunner in this process (or `workers` processes).
portable: Beam's portable runner path, the shape Flink, Spark and Dataflow Runner v2
  have: the pipeline is serialised and sent to a job service, whose SDK workers run in
  other processes, started by a worker pool. With no job endpoint given, a job service
  and a worker pool are started on 127.0.0.1 for the run and stopped after it.
dataflow, flink, spark: the cluster's runner; the options a worker needs to import this
  project (its setup.py, or a container image) are added here.

Two of Beam's defaults would break these runs. Its worker pool starts each SDK worker as
the bare command `python`, so the pool is given a PATH whose `python` is this
environment's: otherwise the workers die on `import apache_beam` and the job service waits
for them until its deadline. And the portable runner watches a job through streams opened
with `--job_server_timeout` (60 s) as their deadline, so any job longer than a minute
failed with DEADLINE_EXCEEDED: the job is given a day instead (reachability is checked
separately, in 10 s). And Beam's job service waits forever for the answer of an SDK worker
that died mid-bundle (its control stream ends, but the pending instruction is never failed),
so a local cluster is watched: when a worker dies abnormally, the job service is stopped and
the run fails with an error instead of hanging.
"""
from __future__ import annotations

import contextlib
import logging
import os
import signal
import socket
import subprocess
import sys
import threading
from typing import Iterator, List, Sequence

from models.errors import WaveGANError

log = logging.getLogger(__name__)

RUNNERS = ("direct", "portable", "dataflow", "flink", "spark")
CLUSTER_RUNNERS = {"dataflow": "DataflowRunner", "flink": "FlinkRunner", "spark": "SparkRunner"}
REACH_SECONDS = 10  # a job service or worker pool that does not answer in this time is not there
JOB_WATCH_SECONDS = 24 * 3600  # --job_server_timeout: how long the runner may watch one job
PROJECT_SETUP = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "setup.py")


class BeamRunnerError(WaveGANError):
    """The Beam runner cannot be used as configured; the message says why."""


def wait_reachable(address: str, what: str, seconds: float = REACH_SECONDS) -> None:
    """Returns once a gRPC server answers at address; else one line naming it."""
    import grpc
    channel = grpc.insecure_channel(address)
    try:
        grpc.channel_ready_future(channel).result(timeout=seconds)
    except grpc.FutureTimeoutError:
        raise BeamRunnerError(f"cannot reach the Beam {what} at {address} (no answer within {seconds:g} s)") from None
    finally:
        channel.close()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _start(module: str, port_flag: str, port: int) -> subprocess.Popen:
    env = dict(os.environ, PATH=os.path.dirname(sys.executable) + os.pathsep + os.environ.get("PATH", ""))
    return subprocess.Popen([sys.executable, "-m", module, f"{port_flag}={port}"], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)


def exit_status(pid: int):
    """(exit code, signal) of an exited child not yet reaped by its parent (a zombie), from Linux's
    /proc/PID/stat; None where it cannot be read (the process is gone or this is not Linux)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
    except OSError:
        return None
    if fields[0] != "Z" or len(fields) < 50:
        return None
    status = int(fields[-1])  # the last field, exit_code, is in waitpid's form
    return status >> 8, status & 0x7F


class WorkerWatch(threading.Thread):
    """Stops the local job service when one of the pool's SDK workers dies abnormally. The pool reaps
    a worker only when the job service asks it to stop it, so a worker that ended by a signal or a
    non-zero exit stays a zombie child of the pool until then, and its status can be read."""

    def __init__(self, pool: subprocess.Popen, job_service: subprocess.Popen, every: float = 0.5):
        super().__init__(name="beam-worker-watch", daemon=True)
        self.pool, self.job_service, self.every = pool, job_service, every
        self.died = ""  # what was found, for the run's error
        self._stopped = threading.Event()

    def run(self):
        import psutil
        while not self._stopped.wait(self.every):
            try:
                workers = psutil.Process(self.pool.pid).children()
            except psutil.NoSuchProcess:
                return
            for worker in workers:
                status = exit_status(worker.pid)
                if status and status != (0, 0):
                    self._stop_job_service(worker.pid, *status)
                    return

    def _stop_job_service(self, pid: int, code: int, signal_number: int):
        how = f"killed by signal {signal_number}" if signal_number else f"exit code {code}"
        self.died = f"a Beam SDK worker (pid {pid}) died mid-run ({how})"
        log.error("%s; stopping the local Beam job service, so the run fails instead of waiting for it",
                  self.died)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.job_service.pid, signal.SIGKILL)

    def stop(self):
        self._stopped.set()
        self.join()


@contextlib.contextmanager
def local_portable_cluster() -> Iterator[List[str]]:
    """A job service and an SDK worker pool on 127.0.0.1, as separate processes; yields the options."""
    job_port, pool_port, watch = _free_port(), _free_port(), None
    processes = [_start("apache_beam.runners.portability.local_job_service_main", "--port", job_port),
                 _start("apache_beam.runners.worker.worker_pool_main", "--service_port", pool_port)]
    try:
        wait_reachable(f"127.0.0.1:{job_port}", "job service", 60)  # a cold start imports Beam
        wait_reachable(f"127.0.0.1:{pool_port}", "worker pool", 60)
        watch = WorkerWatch(pool=processes[1], job_service=processes[0])
        watch.start()
        yield ["--runner=PortableRunner", f"--job_endpoint=127.0.0.1:{job_port}", "--environment_type=EXTERNAL",
               f"--environment_config=127.0.0.1:{pool_port}", f"--job_server_timeout={JOB_WATCH_SECONDS}"]
    finally:
        if watch:
            watch.stop()
        for process in processes:  # each leads its own process group: its SDK workers go with it
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            process.wait()


def cluster_args(runner: str, image: str = "") -> List[str]:
    """Options a cluster runner's workers need to import this project: its image, else its setup.py."""
    args = [f"--runner={CLUSTER_RUNNERS[runner]}"]
    if image:
        args.append(f"--sdk_container_image={image}")
    elif os.path.exists(PROJECT_SETUP):
        args.append(f"--setup_file={PROJECT_SETUP}")
    return args


def runner_options(runner: str = "direct", workers: int = 1, job_endpoint: str = "", image: str = "",
                   extra: Sequence[str] = ()) -> List[str]:
    """The Beam options for `runner`, for every case but a portable run with no job service yet."""
    if runner not in RUNNERS:
        raise BeamRunnerError(f"unknown Beam runner {runner!r}: one of {', '.join(RUNNERS)}")
    if runner == "direct":
        parallel = ["--direct_running_mode=multi_processing"] if workers > 1 else []
        return [f"--direct_num_workers={workers}", *parallel, *extra]
    if runner == "portable":
        if not job_endpoint:
            raise BeamRunnerError("the portable runner needs a job endpoint (HOST:PORT) here; only a local "
                                  "run starts its own job service")
        environment = [] if any(a.startswith("--environment_type") for a in extra) else ["--environment_type=LOOPBACK"]
        return ["--runner=PortableRunner", f"--job_endpoint={job_endpoint}", *environment,
                f"--job_server_timeout={JOB_WATCH_SECONDS}", *extra]
    return [*cluster_args(runner, image), *extra]


@contextlib.contextmanager
def beam_options(runner: str = "direct", workers: int = 1, job_endpoint: str = "", image: str = "",
                 extra: Sequence[str] = ()) -> Iterator[List[str]]:
    """The Beam options for a run from this machine, valid while the context is open: a portable run
    with no job endpoint gets a local job service and worker pool; a given endpoint must answer."""
    if runner == "portable" and not job_endpoint:
        with local_portable_cluster() as args:
            yield [*args, *extra]
        return
    if runner == "portable":
        wait_reachable(job_endpoint, "job service")
    yield runner_options(runner, workers, job_endpoint, image, extra)
