"""Issue 25 on Ray: twenty small sweeps in a row lose no evaluation, and an address where something
else than Ray answers (an HTTP server) is refused in one line within seconds."""

import os

# Read by Ray when it is imported: the loopback address only, no usage reports (as tests/test_ray.py).
os.environ["RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"] = "0"
os.environ["RAY_USAGE_STATS_ENABLED"] = "0"

import http.server  # noqa: E402
import signal  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import threading  # noqa: E402
import time  # noqa: E402

import pytest  # noqa: E402

ray = pytest.importorskip("ray")

from conftest import run_cli  # noqa: E402
from paddle_mnist.runners.compare import compare  # noqa: E402
from test_hardening import no_finished_run_without_eval, one_error_line, records_of  # noqa: E402

QUIET = {"logging_level": "ERROR", "log_to_driver": False}


@pytest.fixture(scope="module")
def ray_here():
    ray.init(num_cpus=2, include_dashboard=False, _node_ip_address="127.0.0.1", **QUIET)
    try:
        yield
    finally:
        ray.shutdown()


@pytest.mark.long
def test_twenty_ray_sweeps_lose_no_evaluation(ray_here, tmp_path):
    """Two runs of one epoch on the synthetic digits, twenty times: every run ends completed, with
    its eval result, in the folder as in the returned record."""
    for i in range(20):
        out = tmp_path / f"s{i}"
        result = compare(["sgd", "adam"], [0.1], epochs=1, batch_size=100, data="synthetic", out=str(out),
                         progress=False, executor="ray")
        assert result["failed"] == [] and result["skipped"] == 0
        on_disk = records_of(out)
        for r in result["records"]:
            assert r["status"] == "completed" and r["eval"] is not None, (i, r["name"])
            assert on_disk[r["name"]]["eval"] == r["eval"], (i, r["name"])
        no_finished_run_without_eval(out)


@pytest.fixture
def http_port():
    """An HTTP server on a loopback port (what a user reaches by giving the dashboard's port)."""
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), http.server.SimpleHTTPRequestHandler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server.server_address[1]
    finally:
        server.shutdown()
        server.server_close()


@pytest.mark.slow
def test_an_http_server_is_not_a_ray_cluster(http_port, tmp_path):
    start = time.monotonic()
    proc = run_cli("compare", "--optimizers", "sgd", "--lrs", "0.1", "--epochs", "1", "--data", "synthetic",
                   "--out", tmp_path / "c", "--executor", "ray", "--ray-address", f"127.0.0.1:{http_port}",
                   "--quiet", cwd=tmp_path, timeout=120)
    line = one_error_line(proc, f"--ray-address 127.0.0.1:{http_port}", "not a Ray")
    assert time.monotonic() - start < 60, line
    assert not (tmp_path / "c" / "runs").exists()


@pytest.mark.slow
def test_sigterm_while_joining_ends_the_command(http_port, tmp_path):
    """SIGTERM while the command starts or tries the address: it ends within seconds (exit 130, the
    one-line refusal, or killed by the signal before Python's handler is set), never hangs."""
    proc = subprocess.Popen([sys.executable, "-m", "paddle_mnist", "compare", "--optimizers", "sgd", "--lrs", "0.1",
                             "--epochs", "1", "--data", "synthetic", "--out", str(tmp_path / "c"), "--executor",
                             "ray", "--ray-address", f"127.0.0.1:{http_port}", "--quiet"],
                            cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    time.sleep(8)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=30)
    assert proc.returncode in (1, 130, -signal.SIGTERM), err[-2000:]
    assert "Traceback" not in err
