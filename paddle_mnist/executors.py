"""Where a sweep's runs train: in a pool of processes on this machine, or as tasks on a Ray cluster.

``compare`` hands an executor its list of runs (a TrainConfig whose ``out`` is ``OUT/runs/NAME``, and
the name) and a callback for each finished record; both executors leave the same run folders behind.

- ``LocalExecutor``: fresh processes (spawn), one Paddle thread each, so N workers share N cores
  without fighting. They die with the sweep (even when it is SIGKILLed); on Ctrl-C or SIGTERM they
  end their runs as ``train`` does ("interrupted", resumable) and take no new ones.
- ``RayExecutor``: each run is one Ray task running ``train`` with its own CPUs (one Paddle thread
  per CPU) or a GPU share. Workers need no shared filesystem: a worker trains in a scratch folder and
  ships the run folder's files to the driver after every epoch (a Ray queue); the driver writes them
  into ``OUT/runs/NAME/`` in ``train``'s own order, atomically. Ray retries a task whose worker died;
  past the retries the run is recorded as failed and the sweep goes on.
"""

import hashlib
import importlib.util
import logging
import math
import multiprocessing
import os
import shutil
import signal
import tempfile
import threading
import time
from contextlib import contextmanager
from dataclasses import asdict, replace

from paddle_mnist import runtime
from paddle_mnist.checkpoints import LAST_CHECKPOINT
from paddle_mnist.config import config_id
from paddle_mnist.data import load_dataset
from paddle_mnist.errors import ConfigError, DataError, PaddleMnistError
from paddle_mnist.files import atomic_path, read_json
from paddle_mnist.record import RECORD_FILE, load_record, new_record, save_record
from paddle_mnist.training import train

EXECUTORS = ("local", "ray")
RAY_INSTALL = 'pip install -e ".[ray]"'
FAILED = "failed"  # a Ray run whose worker died more often than the retries allow (record.status)
STOP_SECONDS = 30  # on Ctrl-C, how long the driver waits for Ray runs to ship their interrupted record


def make_executor(name, *, jobs=None, ray_address=None, cpus_per_run=None, gpus_per_run=None, ray_retries=2):
    """Check the executor's options (nothing is started yet) and return it."""
    if name not in EXECUTORS:
        raise ConfigError(f"--executor {name!r} is unknown; choose one of: {', '.join(EXECUTORS)}")
    if jobs is not None and (isinstance(jobs, bool) or not isinstance(jobs, int) or jobs < 1):
        raise ConfigError(f"--jobs must be a positive integer (default: the number of cores), not {jobs!r}")
    ray_options = {"--ray-address": ray_address, "--cpus-per-run": cpus_per_run, "--gpus-per-run": gpus_per_run}
    if name == "local":
        given = [flag for flag, value in ray_options.items() if value is not None]
        if given:
            raise ConfigError(f"{given[0]} is an option of --executor ray (this sweep runs locally)")
        return LocalExecutor(jobs)
    if jobs is not None:
        raise ConfigError("--jobs is an option of --executor local; with Ray, --cpus-per-run sets how many "
                          "runs share the cluster")
    for flag, value, zero_ok in (("--cpus-per-run", cpus_per_run, False), ("--gpus-per-run", gpus_per_run, True)):
        ok = value is None or (isinstance(value, (int, float)) and not isinstance(value, bool)
                               and math.isfinite(value) and (value >= 0 if zero_ok else value > 0))
        if not ok:
            raise ConfigError(f"{flag} must be a {'number >= 0' if zero_ok else 'positive number'}, not {value!r}")
    if ray_address is not None and (not isinstance(ray_address, str) or
                                    (ray_address != "auto" and ":" not in ray_address)):
        raise ConfigError(f"--ray-address must be auto or HOST:PORT, not {ray_address!r}")
    if importlib.util.find_spec("ray") is None:  # said before any work, not after loading the data
        import_ray()
    if not isinstance(ray_retries, int) or ray_retries < 0:
        raise ConfigError(f"ray_retries must be an integer >= 0, not {ray_retries!r}")
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

    def run(self, todo, on_record, *, dataset, data):
        """Train every (config, name) of `todo`; call on_record(record) as each ends. Returns []
        (the names of failed runs: a local run that fails stops the sweep with its error)."""
        jobs = min(self.jobs or os.cpu_count() or 1, max(1, len(todo)))
        if jobs == 1:
            for config, name in todo:
                on_record(train(config, data=dataset, progress=False, name=name))
            return []
        ctx = multiprocessing.get_context("spawn")
        stop = ctx.Event()
        with _child_threads(1):  # read by Paddle at import in each worker, so set before they start
            pool = ctx.Pool(jobs, initializer=_worker_start, initargs=(stop,))
            try:
                for record in pool.imap_unordered(_worker_run, [(replace(c, threads=1), n, data) for c, n in todo]):
                    if record is not None:
                        on_record(record)
            except BaseException:
                stop.set()  # Ctrl-C, SIGTERM or an error: runs end "interrupted", queued ones are skipped
                raise
            finally:
                pool.close()  # the workers exit by themselves (terminate() would kill them mid-write)
                pool.join()
        return []


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
_WORKER = {"stop": None, "training": False, "interrupted": False, "data": {}}


def _worker_start(stop):
    """A pool worker's start: one thread, freed memory kept, death with the sweep (runtime), and
    Ctrl-C / SIGTERM / the sweep's stop event ending the run in progress like Ctrl-C ends `train`."""
    runtime.sweep_worker_start()
    _WORKER["stop"] = stop
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
        return train(config, data=_WORKER["data"][data], progress=False, name=name)
    except KeyboardInterrupt:  # outside train's own handler (between its last write and its return)
        return None
    finally:
        _WORKER["training"] = False


# ---------------------------------------------------------------------------------------------
# Ray: one task per run, files shipped back to the driver


class RayExecutor:
    """Runs as Ray tasks: on the cluster at `address` ("auto" or HOST:PORT), on a Ray this process
    already joined, or else on a one-machine Ray started here (bound to 127.0.0.1) and stopped after."""

    def __init__(self, address, cpus_per_run, gpus_per_run, retries):
        self.address, self.cpus, self.gpus, self.retries = address, cpus_per_run, gpus_per_run, retries
        self.ray, self.started = None, False

    def __enter__(self):
        self.ray = import_ray(loopback=self.address is None)
        if not self.ray.is_initialized():
            with python_signal_handlers():
                connect_ray(self.ray, self.address)
            self.started = True
        try:
            self._check_resources()
        except BaseException:
            self.__exit__()
            raise
        return self

    def __exit__(self, *exc):
        if self.started:
            self.ray.shutdown()
            self.started = False
        return False

    def _check_resources(self):
        nodes = [n["Resources"] for n in self.ray.nodes() if n.get("Alive")]
        if self.gpus and not any(r.get("GPU", 0) >= min(self.gpus, 1) for r in nodes):
            raise ConfigError(f"--gpus-per-run {self.gpus:g}: no node of this Ray cluster has a GPU")
        most = max((r.get("CPU", 0) for r in nodes), default=0)
        if self.cpus > most:
            raise ConfigError(f"--cpus-per-run {self.cpus:g}: no node of this Ray cluster has that many CPUs "
                              f"(the most: {most:g})")

    def run(self, todo, on_record, *, dataset, data):
        """Submit every run as a task; write what workers ship; call on_record(record) as each ends.
        Returns the names of the runs that failed (their worker died more often than the retries)."""
        ray = self.ray
        from ray.util.queue import Queue
        from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

        here = NodeAffinitySchedulingStrategy(ray.get_runtime_context().get_node_id(), soft=True)
        sink = Queue(actor_options={"num_cpus": 0, "scheduling_strategy": here})
        # a GPU run gets a fresh worker process (max_calls=1): CUDA keeps the GPU it first saw
        task = ray.remote(max_calls=1 if self.gpus else 0)(train_run).options(
            num_cpus=self.cpus, num_gpus=self.gpus, max_retries=self.retries, retry_exceptions=False)
        data_ref = ray.put(dataset)  # sent to each node once, not once per run
        threads = max(1, round(self.cpus))
        folders = RunFolders({name: config.out for config, name in todo})
        pending = {task.remote(replace(config, threads=threads), name, data_ref, read_run_files(config.out), sink,
                               self.gpus): (config, name) for config, name in todo}
        failed = []
        try:
            while pending:
                ready, _ = ray.wait(list(pending), num_returns=len(pending), timeout=0.5)
                folders.take(sink)  # after the wait: a finished task's shipments are all in the queue
                for ref in ready:
                    config, name = pending.pop(ref)
                    record = self._result(ref, config, name, dataset, folders)
                    if record["status"] == FAILED:
                        failed.append(name)
                    on_record(record)
        except BaseException:
            self._stop(pending, sink, folders)
            raise
        return failed

    def _result(self, ref, config, name, dataset, folders):
        ray = self.ray
        try:
            return ray.get(ref)
        except ray.exceptions.RayTaskError as e:  # train itself raised: stop the sweep, as locally
            if isinstance(e.cause, PaddleMnistError):
                raise e.cause from None
            raise
        except ray.exceptions.RayError as e:  # the worker or its node died, more often than the retries
            reason = f"{type(e).__name__}: {(str(e).strip().splitlines() or ['?'])[0]}"
            return folders.mark_failed(name, config, dataset, f"{reason} (after {self.retries} retries)")

    def _stop(self, pending, sink, folders):
        """Ctrl-C, SIGTERM or an error: cancel every run (a running one ends like `train` on Ctrl-C
        and ships its interrupted record), wait a little for those, and write what they shipped."""
        try:
            for ref in reversed(list(pending)):  # the queued ones first: none starts as a running one ends
                self.ray.cancel(ref)
            refs, deadline = list(pending), time.monotonic() + STOP_SECONDS
            while refs and time.monotonic() < deadline:
                _, refs = self.ray.wait(refs, num_returns=len(refs), timeout=0.5)
            folders.take(sink)
        except Exception:  # Ray itself may be what failed: the original error matters more
            pass


def import_ray(loopback=False):
    """Ray, an optional extra, imported only when a sweep asks for it. `loopback`: Ray will be
    started here for this sweep alone, so every part of it listens on 127.0.0.1 only (Ray reads
    RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER when imported: "0" keeps it from using the outward address)."""
    if loopback:
        os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")
    try:
        import ray
    except ImportError:
        raise ConfigError(f"--executor ray needs Ray, which is not installed: {RAY_INSTALL}") from None
    return ray


@contextmanager
def python_signal_handlers():
    """Keep this process's SIGINT/SIGTERM handlers across the block: joining Ray installs Ray's own
    (C++) ones, which log a stack and abort, where `compare` ends a sweep cleanly on SIGTERM."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    saved = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for signum, handler in saved.items():
            if handler is not None:
                signal.signal(signum, handler)


def connect_ray(ray, address):
    """Join the cluster at `address`, or start a one-machine Ray on 127.0.0.1 when it is None."""
    quiet = {"logging_level": logging.ERROR, "log_to_driver": False}
    try:
        if address:
            ray.init(address=address, **quiet)
        else:
            ray.init(include_dashboard=False, _node_ip_address="127.0.0.1", **quiet)
    except (ConnectionError, RuntimeError, ValueError) as e:
        ray.shutdown()
        where = f"--ray-address {address}" if address else "--executor ray"
        raise ConfigError(f"{where}: cannot start or join Ray ({(str(e).strip().splitlines() or ['?'])[0]})") from None


class RunFolders:
    """The driver's side of the run folders: writes what workers ship, in train's order (best
    weights, then the record, then the resume point), each file atomically."""

    def __init__(self, dirs):
        self.dirs = dirs
        self.epochs = dict.fromkeys(dirs, 0)

    def take(self, sink):
        """Write every shipment waiting in the queue."""
        while sink.qsize():
            for name, shipment in sink.get_nowait_batch(sink.qsize()):
                self.write(name, shipment)

    def write(self, name, shipment):
        record, files = shipment["record"], shipment["files"]
        if len(record["epochs"]) < self.epochs[name]:
            return  # a retried task replaying epochs the folder already has (the same numbers)
        self.epochs[name] = len(record["epochs"])
        out = self.dirs[name]
        for file_name, blob in files.items():
            if file_name != LAST_CHECKPOINT:
                write_bytes(os.path.join(out, file_name), blob)
        save_record(out, record)
        if LAST_CHECKPOINT in files:
            write_bytes(os.path.join(out, LAST_CHECKPOINT), files[LAST_CHECKPOINT])

    def mark_failed(self, name, config, dataset, reason):
        """Record the run as failed (its record so far, or an empty one) with the reason; the rerun
        tries it again, from its last checkpoint when it has one."""
        out = self.dirs[name]
        try:
            record = load_record(out)
            if record.get("config_id") != config_id(config):
                raise DataError("a record of another run")
        except DataError:
            spe = math.ceil(dataset.info["sizes"]["train"] / config.batch_size)
            record = new_record(name, asdict(config), config_id(config), dataset.info, None, {}, spe)
        record.update(status=FAILED, failure={"reason": reason})
        save_record(out, record)
        return record


def write_bytes(path, blob):
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as f:
            f.write(blob)


def read_run_files(run_dir):
    """{file name: bytes} of a run folder (what a worker needs to resume it); {} when there is none."""
    if not os.path.isdir(run_dir):
        return {}
    files = {}
    for name in sorted(os.listdir(run_dir)):
        path = os.path.join(run_dir, name)
        if not name.startswith(".") and os.path.isfile(path):
            with open(path, "rb") as f:
                files[name] = f.read()
    return files


def train_run(config, name, data, files, sink, gpus):
    """One run on a Ray worker (the Ray task): ``train`` in a scratch folder of this worker, holding
    first the files the driver has of the run (to resume it), shipping the folder's new and changed
    files after every epoch and at the end. Returns the record."""
    import ray

    runtime.keep_freed_memory()
    node = ray.get_runtime_context().get_node_id()
    device = config.device or ("gpu" if gpus and ray.get_gpu_ids() else "cpu")
    scratch = tempfile.mkdtemp(prefix="paddle-mnist-run-")
    try:
        for file_name, blob in files.items():
            write_bytes(os.path.join(scratch, file_name), blob)
        sent = {file_name: _digest(blob) for file_name, blob in files.items()}
        record = train(replace(config, out=scratch, device=device), data=data, progress=False, name=name,
                       on_save=lambda out: sink.put((name, _shipment(out, sent, node))))
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    record["environment"]["ray_node"] = node
    return record


def _shipment(out, sent, node):
    """The record (with the node it ran on) and the files that changed since the last shipment."""
    record = read_json(os.path.join(out, RECORD_FILE))
    record["environment"]["ray_node"] = node
    files = {}
    for file_name, blob in read_run_files(out).items():
        if file_name != RECORD_FILE and sent.get(file_name) != _digest(blob):
            files[file_name] = blob
            sent[file_name] = _digest(blob)
    return {"record": record, "files": files}


def _digest(blob):
    return hashlib.sha256(blob).hexdigest()
