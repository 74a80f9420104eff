"""``compare --executor ray``: each run of a sweep is one Ray task running ``train``.

A task gets its own CPUs (one Paddle thread per CPU) or a GPU share. Workers need no shared
filesystem: a worker trains in a scratch folder and ships the run folder's files to the driver after
every epoch (through a Ray queue); the driver writes them into ``OUT/runs/NAME/`` in ``train``'s own
order, atomically, so the folder is the local executor's. Ray retries a task whose worker died;
past the retries the run is recorded as failed and the sweep goes on. Ray is an optional extra:
it is imported only here, and only when a sweep asks for it.
"""

import hashlib
import importlib.util
import logging
import math
import os
import shutil
import signal
import socket
import tempfile
import threading
import time
import uuid
from contextlib import contextmanager
from dataclasses import asdict, replace

import paddle

from paddle_mnist.core import runtime
from paddle_mnist.core.checkpoints import LAST_CHECKPOINT
from paddle_mnist.core.config import config_id
from paddle_mnist.core.errors import ConfigError, DataError, PaddleMnistError
from paddle_mnist.core.files import atomic_path, read_json
from paddle_mnist.schemas.run import RECORD_FILE, load_record, new_record, save_record
from paddle_mnist.runners.train import StepsSender, train

RAY_INSTALL = 'pip install -e ".[ray]"'
FAILED = "failed"  # a Ray run whose worker died more often than the retries allow (record.status)
STOP_SECONDS = 30  # on Ctrl-C, how long the driver waits for Ray runs to ship their interrupted record


def ray_missing():
    """True when Ray is not installed (said before any work, not after loading the data)."""
    return importlib.util.find_spec("ray") is None


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
        if self.gpus and not any(r.get("GPU", 0) >= self.gpus for r in nodes):
            raise ConfigError(f"--gpus-per-run {self.gpus:g}: no node of this Ray cluster has "
                              f"{'a GPU' if self.gpus <= 1 else f'{self.gpus:g} GPUs'}")
        most = max((r.get("CPU", 0) for r in nodes), default=0)
        if self.cpus > most:
            raise ConfigError(f"--cpus-per-run {self.cpus:g}: no node of this Ray cluster has that many CPUs "
                              f"(the most: {most:g})")

    def run(self, todo, on_record, *, dataset, data, on_steps=None):
        """Submit every run as a task; write what workers ship; call on_record(record) as each ends
        and on_steps(name, note) as each epoch arrives (``StepsSender``'s notes, read from the
        records the workers ship). Returns the names of the runs that failed (their worker died more often than the retries)."""
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
        folders = RunFolders({name: config.out for config, name in todo}, on_steps)
        pending = {task.remote(replace(config, threads=threads), name, data_ref,
                               read_run_files(config.out) if config.resume else {}, sink, self.gpus): (config, name)
                   for config, name in todo}
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
    if address and address != "auto":
        check_reachable(address)
    try:
        if address:
            ray.init(address=address, **quiet)
        else:
            ray.init(include_dashboard=False, _node_ip_address="127.0.0.1", **quiet)
    except (ConnectionError, RuntimeError, ValueError) as e:
        ray.shutdown()
        where = f"--ray-address {address}" if address else "--executor ray"
        raise ConfigError(f"{where}: cannot start or join Ray ({(str(e).strip().splitlines() or ['?'])[0]})") from None


# The opening of an HTTP/2 connection and an empty SETTINGS frame: Ray's GCS speaks gRPC (HTTP/2),
# so it answers with a SETTINGS frame of its own; an HTTP/1 server (the dashboard) does not.
HTTP2_HELLO = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n" + bytes([0, 0, 0, 4, 0, 0, 0, 0, 0])
HTTP2_SETTINGS = 4  # the frame type, byte 3 of a frame's 9-byte header


def check_reachable(address, seconds=5):
    """A HOST:PORT where no Ray cluster answers is one line within seconds: nobody listening, or
    something else (an HTTP server, the dashboard's port). Ray itself retries for minutes."""
    host, _, port = address.rpartition(":")
    try:
        with socket.create_connection((host.strip("[]"), int(port)), timeout=seconds) as conn:
            conn.settimeout(seconds)
            conn.sendall(HTTP2_HELLO)
            reply = b""
            while len(reply) < 9:
                chunk = conn.recv(9 - len(reply))
                if not chunk:
                    break
                reply += chunk
    except (OSError, ValueError) as e:
        raise ConfigError(f"--ray-address {address}: no Ray cluster answers there ({e}); start one with "
                          "`ray start --head` and give the address it prints") from None
    if len(reply) < 9 or reply[3] != HTTP2_SETTINGS:
        said = reply.split(b"\r\n")[0].decode("ascii", "replace").strip() or "nothing"
        raise ConfigError(f"--ray-address {address}: something answers there, but not a Ray cluster "
                          f"(it said {said[:40]!r}; a dashboard's port?); give the address "
                          "`ray start --head` prints (port 6379 by default)")


class RunFolders:
    """The driver's side of the run folders: writes what workers ship, in train's order (best
    weights, then the record, then the resume point), each file atomically."""

    def __init__(self, dirs, on_steps=None):
        self.dirs = dirs
        send = on_steps or (lambda name, note: None)  # the live view's notes, from each record written
        self.notes = {name: StepsSender(name, lambda message: send(*message)) for name in dirs}
        self.epochs = dict.fromkeys(dirs, 0)
        self.attempts = {}  # name -> [attempt id, next shipment number, {number: shipment held back}]
        self.retired = set()  # attempts a retry replaced: what they still ship is stale

    def take(self, sink):
        """Write every shipment waiting in the queue."""
        while sink.qsize():
            for name, shipment in sink.get_nowait_batch(sink.qsize()):
                self.receive(name, shipment)

    def receive(self, name, shipment):
        """Write a task's shipments in the order it sent them. Ray's queue is an async actor, which
        may run two puts of one task out of order: the last epoch's record ("running") could then
        overwrite the final one (with the eval result). A retried task is a new attempt: it starts
        again from the files it was given, and what the attempt before it still ships is dropped."""
        attempt = shipment["attempt"]
        if attempt in self.retired:
            return
        state = self.attempts.get(name)
        if state is None or state[0] != attempt:
            if state is not None:
                self.retired.add(state[0])
            state = self.attempts[name] = [attempt, 1, {}]
        state[2][shipment["number"]] = shipment
        while state[1] in state[2]:
            self.write(name, state[2].pop(state[1]))
            state[1] += 1

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
        self.notes[name](record)
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
    # the GPU Ray gave this task (Ray sets CUDA_VISIBLE_DEVICES to it), else the CPU
    has_gpu = gpus and ray.get_gpu_ids() and paddle.device.is_compiled_with_cuda()
    device = config.device or ("gpu" if has_gpu else "cpu")
    scratch = tempfile.mkdtemp(prefix="paddle-mnist-run-")
    shipped, sent = [], {}
    attempt = uuid.uuid4().hex  # a retry of this task is another attempt (RunFolders.receive)

    def ship(out):
        # Not sink.put: it waits in ray.get, and Ray lends a waiting task's CPU to the next run, which
        # keeps it (measured: 3 runs training on 2 CPUs, each 25 % slower). Sent without waiting
        # (calls from one task reach the queue in order), waited for once, after the last epoch.
        shipment = dict(_shipment(out, sent, node), attempt=attempt, number=len(shipped) + 1)
        shipped.append(sink.actor.put_nowait.remote((name, shipment)))

    try:
        for file_name, blob in files.items():
            write_bytes(os.path.join(scratch, file_name), blob)
        sent.update({file_name: _digest(blob) for file_name, blob in files.items()})
        record = train(replace(config, out=scratch, device=device), data=data, progress=False, name=name,
                       on_save=ship)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
        ray.get(shipped)  # every shipment is in the queue before the driver sees this task end
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
