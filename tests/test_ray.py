"""compare --executor ray on a real Ray started here: the same records as the local pool, two nodes,
a killed driver, a killed worker. Every node and the driver use 127.0.0.1 only, and every Ray
process a test starts is stopped by its fixture."""

import os

# Read by Ray when it is imported: "0" makes the driver and every node use the loopback address
# (by default Ray resolves 127.0.0.1 to this machine's outward address); no usage reports.
os.environ["RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"] = "0"
os.environ["RAY_USAGE_STATS_ENABLED"] = "0"

import json  # noqa: E402
import signal  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import threading  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import pytest  # noqa: E402

ray = pytest.importorskip("ray")
psutil = pytest.importorskip("psutil")  # a dependency of Ray

from ray.cluster_utils import Cluster  # noqa: E402

from paddle_mnist.api import compare  # noqa: E402

# 4 runs of 2 epochs of 10 steps on the synthetic digits
SWEEP = dict(optimizers=["sgd", "adam"], lrs=[0.05, 0.01], epochs=2, batch_size=100, data="synthetic",
             plot=False, progress=False)
CLI_SWEEP = ["compare", "--optimizers", "sgd,adam", "--lrs", "0.05,0.01", "--epochs", "2", "--batch-size", "100",
             "--data", "synthetic", "--quiet", "--no-plot", "--executor", "ray"]
NAMES = ["adam-lr0.01", "adam-lr0.05", "sgd-lr0.01", "sgd-lr0.05"]
QUIET = {"logging_level": "ERROR", "log_to_driver": False}


@pytest.fixture(scope="module")
def local_records(tmp_path_factory):
    """The reference: the same sweep on the local pool (2 workers, one thread each)."""
    out = tmp_path_factory.mktemp("local")
    result = compare(**SWEEP, jobs=2, out=str(out))
    return {r["name"]: r for r in result["records"]}, out


def assert_same_results(records, local_records):
    """Step losses and lrs bit for bit, epochs (timing aside), statuses, best and eval."""
    reference, _ = local_records
    assert sorted(records) == NAMES
    for name, r in records.items():
        ref = reference[name]
        assert r["status"] == ref["status"] == "completed", name
        assert r["steps"] == ref["steps"], name  # every step's loss and lr, exactly
        assert len(r["steps"]["loss"]) == 2 * r["steps_per_epoch"]
        drop = lambda epochs: [{k: v for k, v in e.items() if k not in ("seconds", "train_seconds")} for e in epochs]  # noqa: E731
        assert drop(r["epochs"]) == drop(ref["epochs"]), name
        assert (r["best"], r["eval"], r["fairness"], r["config_id"]) == \
               (ref["best"], ref["eval"], ref["fairness"], ref["config_id"]), name


def run_folders(out):
    return {d.name: sorted(p.name for p in d.iterdir()) for d in (Path(out) / "runs").iterdir()}


def load_records(out):
    runs = Path(out) / "runs"
    return {d.name: json.loads((d / "record.json").read_text()) for d in (runs.iterdir() if runs.exists() else [])
            if (d / "record.json").exists()}


def training_workers():
    """Ray workers (started by this test process) that are running a run right now."""
    found = []
    for p in psutil.Process().children(recursive=True):
        try:
            if p.cmdline()[:1] and p.cmdline()[0].startswith("ray::train_run"):
                found.append(p)
        except psutil.Error:
            pass
    return found


def wait_for(condition, timeout=120, what="condition"):
    deadline = time.time() + timeout
    while time.time() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def kill_a_training_worker(out):
    """SIGKILL one Ray worker in the middle of a run (after some run has shipped an epoch)."""
    wait_for(lambda: load_records(out), what="a first epoch")
    worker = wait_for(training_workers, what="a worker training")[0]
    worker.send_signal(signal.SIGKILL)
    return worker.pid


def in_thread(**kwargs):
    """compare() in a thread of this process (so that this one can kill a worker meanwhile)."""
    box = {}

    def target():
        try:
            box["result"] = compare(**kwargs)
        except BaseException as e:  # re-raised by the test
            box["error"] = e

    thread = threading.Thread(target=target)
    thread.start()
    return thread, box


@pytest.fixture(scope="class")
def ray_here():
    """A one-machine Ray with 2 CPUs, for the tests of one class."""
    ray.init(num_cpus=2, include_dashboard=False, _node_ip_address="127.0.0.1", **QUIET)
    try:
        yield ray.get_runtime_context().gcs_address
    finally:
        ray.shutdown()


@pytest.fixture(scope="class")
def cluster():
    """Two Ray nodes of 1 CPU each on this machine, and this process as their driver."""
    cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 1, "node_ip_address": "127.0.0.1",
                                                            "include_dashboard": False})
    try:
        cluster.add_node(num_cpus=1, node_ip_address="127.0.0.1")
        ray.init(address=cluster.address, **QUIET)
        yield cluster
    finally:
        ray.shutdown()
        cluster.shutdown()


@pytest.mark.slow
class TestOneMachine:
    def test_same_records_as_the_local_pool(self, ray_here, local_records, tmp_path):
        assert ray_here.startswith("127.0.0.1:")
        result = compare(**SWEEP, executor="ray", out=str(tmp_path))
        records = {r["name"]: r for r in result["records"]}
        assert_same_results(records, local_records)
        assert all(r["environment"]["ray_node"] == ray.get_runtime_context().get_node_id() for r in records.values())
        assert run_folders(tmp_path) == run_folders(local_records[1])  # the same files in every run folder
        assert json.loads((tmp_path / "manifest.json").read_text())["runs"][0]["name"] in NAMES
        assert result["failed"] == [] and load_records(tmp_path) == records

    def test_runs_never_train_on_more_cpus_than_there_are(self, ray_here, tmp_path):
        """2 CPUs, 2 per run: one run at a time, also while a run ships an epoch to the driver (a task
        that waits in ray.get lends its CPUs to the next task, which then keeps them)."""
        sweep = dict(SWEEP, optimizers=["sgd"], epochs=4, batch_size=50)
        thread, box = in_thread(**sweep, executor="ray", cpus_per_run=2, out=str(tmp_path))
        most = 0
        while thread.is_alive():
            most = max(most, len(training_workers()))
            time.sleep(0.01)
        assert "error" not in box, box.get("error")
        assert most == 1 and {r["status"] for r in box["result"]["records"]} == {"completed"}

    def test_killed_worker_is_retried_or_recorded_failed(self, ray_here, local_records, tmp_path):
        # no retries: the killed run is recorded as failed, with the reason, and the sweep finishes
        thread, box = in_thread(**SWEEP, executor="ray", out=str(tmp_path), ray_retries=0)
        kill_a_training_worker(tmp_path)
        thread.join(timeout=300)
        assert "error" not in box, box.get("error")
        failed = box["result"]["failed"]
        assert len(failed) == 1
        record = load_records(tmp_path)[failed[0]]
        assert record["status"] == "failed" and "Worker" in record["failure"]["reason"]
        assert {r["status"] for r in box["result"]["records"] if r["name"] not in failed} == {"completed"}
        # the rerun (with retries) trains it again, a worker is killed again: it is retried and ends
        thread, box = in_thread(**SWEEP, executor="ray", out=str(tmp_path))
        wait_for(training_workers, what="a worker training")[0].send_signal(signal.SIGKILL)
        thread.join(timeout=300)
        assert "error" not in box, box.get("error")
        assert box["result"]["failed"] == [] and box["result"]["skipped"] == 3
        assert_same_results(load_records(tmp_path), local_records)

    def test_sigterm_then_sigkill_to_the_driver_then_rerun_ends_every_run_once(self, ray_here, local_records,
                                                                              tmp_path):
        args = [sys.executable, "-m", "paddle_mnist", *CLI_SWEEP, "--ray-address", ray_here, "--out", "sweep"]
        out = tmp_path / "sweep"
        # SIGTERM: the sweep stops as `train` does (runs recorded "interrupted"), exit 130, one line
        driver = subprocess.Popen(args, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        wait_for(lambda: load_records(out), what="a first epoch")
        driver.send_signal(signal.SIGTERM)
        _, stderr = driver.communicate(timeout=120)
        assert driver.returncode == 130 and stderr.strip().splitlines() == ["paddle-mnist: interrupted"], stderr
        assert "interrupted" in {r["status"] for r in load_records(out).values()}
        # SIGKILL, once the rerun has resumed a run: the driver loses at most the epochs in flight
        driver = subprocess.Popen(args, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        wait_for(lambda: any(r["status"] == "running" for r in load_records(out).values()), what="a resumed run")
        driver.kill()
        driver.wait(timeout=30)
        for record in load_records(out).values():  # every record that reached the folder is whole
            assert record["status"] in ("running", "interrupted", "completed")
        res = subprocess.run(args, cwd=tmp_path, capture_output=True, text=True, timeout=300)
        assert res.returncode == 0, res.stderr
        assert_same_results(load_records(out), local_records)  # each epoch exactly once, same numbers

    def test_an_address_nobody_answers_at_is_one_line(self, tmp_path):
        res = subprocess.run([sys.executable, "-m", "paddle_mnist", *CLI_SWEEP, "--ray-address", "127.0.0.1:1",
                              "--out", "sweep"], cwd=tmp_path, capture_output=True, text=True, timeout=120)
        assert res.returncode == 1 and res.stderr.count("\n") == 1, res.stderr
        assert "--ray-address 127.0.0.1:1: no Ray cluster answers there" in res.stderr
        assert list(tmp_path.iterdir()) == []


class TestTwoNodes:
    def test_runs_land_on_both_nodes(self, cluster, local_records, tmp_path):
        assert cluster.address.startswith("127.0.0.1:")
        result = compare(**dict(SWEEP, plot=True), executor="ray", out=str(tmp_path))
        records = {r["name"]: r for r in result["records"]}
        nodes = {r["environment"]["ray_node"] for r in records.values()}
        assert nodes == {n["NodeID"] for n in ray.nodes() if n["Alive"]} and len(nodes) == 2
        assert_same_results(records, local_records)
        assert run_folders(tmp_path) == run_folders(local_records[1])
        assert (tmp_path / "summary.md").exists() and (tmp_path / "loss_by_optimizer.png").exists()
