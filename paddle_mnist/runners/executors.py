"""Where a sweep's runs train: in a pool of processes on this machine, or on a Ray cluster.

``compare`` hands an executor its list of runs (a TrainConfig whose ``out`` is ``OUT/runs/NAME``, and
the name) and a callback for each finished record; every executor leaves the same run folders.
``LocalExecutor`` (here) uses fresh processes (spawn), one Paddle thread each, so N workers share N
cores without fighting. They die with the sweep (even when it is SIGKILLed); on Ctrl-C or SIGTERM
they end their runs as ``train`` does ("interrupted", resumable) and take no new ones.
``RayExecutor`` (``ray_executor``) runs each run as a Ray task.
"""

import multiprocessing
import os
import signal
import threading
from contextlib import contextmanager
from dataclasses import replace

from paddle_mnist.core import checks, runtime
from paddle_mnist.core.data import load_dataset
from paddle_mnist.core.errors import ConfigError
from paddle_mnist.runners.ray_executor import RAY_INSTALL, RayExecutor, ray_missing
from paddle_mnist.runners.train import StepsSender, train

EXECUTORS = ("local", "ray")


def make_executor(name, *, jobs=None, ray_address=None, cpus_per_run=None, gpus_per_run=None, ray_retries=2):
    """Check the executor's options (nothing is started yet) and return it."""
    checks.one_of("--executor", name, EXECUTORS)
    if jobs is not None:
        checks.whole("--jobs", jobs, low=1)
    ray_options = {"--ray-address": ray_address, "--cpus-per-run": cpus_per_run, "--gpus-per-run": gpus_per_run}
    if name == "local":
        given = [flag for flag, value in ray_options.items() if value is not None]
        if given:
            raise ConfigError(f"{given[0]} is an option of --executor ray (this sweep runs locally)")
        return LocalExecutor(jobs)
    if jobs is not None:
        raise ConfigError("--jobs is an option of --executor local; with Ray, --cpus-per-run sets how many "
                          "runs share the cluster")
    if cpus_per_run is not None:
        checks.positive("--cpus-per-run", cpus_per_run)
    if gpus_per_run is not None:
        checks.number("--gpus-per-run", gpus_per_run, low=0)
    if ray_address is not None and (not isinstance(ray_address, str) or
                                    (ray_address != "auto" and ":" not in ray_address)):
        raise ConfigError(f"--ray-address must be auto or HOST:PORT, not {ray_address!r}")
    if ray_missing():
        raise ConfigError(f"--executor ray needs Ray, which is not installed: {RAY_INSTALL}")
    checks.whole("ray_retries", ray_retries, low=0)
    return RayExecutor(ray_address, cpus_per_run or 1, gpus_per_run or 0, ray_retries)


# ---------------------------------------------------------------------------------------------
# local: a pool of processes


class LocalExecutor:
    """Runs in this process (1 job) or in a pool of spawned processes, one Paddle thread each."""

    def __init__(self, jobs):
        self.jobs = jobs

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False

    def run(self, todo, on_record, *, dataset, data, on_steps=None):
        """Train every (config, name) of `todo`; call on_record(record) as each ends, and
        on_steps(name, note) as its steps come in (``StepsSender``'s notes). Returns []
        (the names of failed runs: a local run that fails stops the sweep with its error)."""
        on_steps = on_steps or (lambda name, note: None)
        jobs = min(self.jobs or os.cpu_count() or 1, max(1, len(todo)))
        if jobs == 1:
            for config, name in todo:
                on_record(train(config, data=dataset, progress=False, name=name,
                                on_steps=StepsSender(name, lambda message: on_steps(*message))))
            return []
        ctx = multiprocessing.get_context("spawn")
        stop, notes = ctx.Event(), ctx.SimpleQueue()  # notes: the workers' StepsSender messages
        with _child_threads(1):  # read by Paddle at import in each worker, so set before they start
            pool = ctx.Pool(jobs, initializer=_worker_start, initargs=(stop, notes))
            try:
                results = pool.imap_unordered(_worker_run, [(replace(c, threads=1), n, data) for c, n in todo])
                for record in _while_reading(results, notes, on_steps):
                    if record is not None:
                        on_record(record)
            except BaseException:
                stop.set()  # Ctrl-C, SIGTERM or an error: runs end "interrupted", queued ones are skipped
                raise
            finally:
                pool.close()  # the workers exit by themselves (terminate() would kill them mid-write)
                pool.join()
        return []


def _while_reading(results, notes, on_steps):
    """The pool's records as they end; meanwhile, every half second, the notes the workers sent."""
    while True:
        try:
            record = results.next(timeout=0.5)
        except multiprocessing.TimeoutError:
            record = None
        except StopIteration:
            record = StopIteration
        while not notes.empty():
            on_steps(*notes.get())
        if record is StopIteration:
            return
        if record is not None:
            yield record


@contextmanager
def _child_threads(n):
    saved = {k: os.environ.get(k) for k in ("OMP_NUM_THREADS", "MKL_NUM_THREADS")}
    os.environ.update(OMP_NUM_THREADS=str(n), MKL_NUM_THREADS=str(n))
    try:
        yield
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


# in a worker process: the sweep's stop event, whether a run is training, whether it was interrupted
_WORKER = {"stop": None, "notes": None, "training": False, "interrupted": False, "data": {}}


def _worker_start(stop, notes):
    """A pool worker's start: one thread, freed memory kept, death with the sweep (runtime), and
    Ctrl-C / SIGTERM / the sweep's stop event ending the run in progress like Ctrl-C ends `train`."""
    runtime.sweep_worker_start()
    _WORKER["stop"], _WORKER["notes"] = stop, notes
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, _worker_signal)
    threading.Thread(target=_interrupt_on_stop, args=(stop,), daemon=True).start()


def _interrupt_on_stop(stop):
    stop.wait()
    os.kill(os.getpid(), signal.SIGINT)  # handled in the main thread, by _worker_signal


def _worker_signal(signum, frame):
    """Interrupt the run in progress, once; an idle worker ignores the signal (the pool ends it)."""
    if _WORKER["training"] and not _WORKER["interrupted"]:
        _WORKER["interrupted"] = True
        raise KeyboardInterrupt


def _worker_run(job):
    """One run in a pool worker; None when the sweep is stopping (the run is left for the rerun)."""
    config, name, data = job
    _WORKER["training"] = True
    try:
        if _WORKER["interrupted"] or _WORKER["stop"].is_set():
            return None
        if data not in _WORKER["data"]:
            _WORKER["data"] = {data: load_dataset(data)}
        return train(config, data=_WORKER["data"][data], progress=False, name=name,
                     on_steps=StepsSender(name, _WORKER["notes"].put))
    except KeyboardInterrupt:  # outside train's own handler (between its last write and its return)
        return None
    finally:
        _WORKER["training"] = False
