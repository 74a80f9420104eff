"""A sweep's manifest: ``OUT/manifest.json``, written by ``compare`` before its runs start.

Layout (schema ``paddle_mnist.sweep/1``)::

    schema   "paddle_mnist.sweep/1"
    axes     {field: [values]}: every config field that varies in the sweep (optimizer and lr always)
    grids    [{field: [values]}, ...]: the grids as given (one per experiment)
    base     every TrainConfig field the runs share
    data     the data's {path, sha256, sizes, ...}
    runs     [{name, config_id, dir}, ...]: one per run, ``dir`` relative to OUT (runs/NAME)

Each run's results are in its own record (``schemas.run``); the manifest only lists them.
"""

import glob
import os

from paddle_mnist.core.files import read_schema_json, write_json
from paddle_mnist.schemas.run import RECORD_FILE

SCHEMA = "paddle_mnist.sweep/1"
MANIFEST_FILE = "manifest.json"


def write_manifest(out, axes, grids, base, data, runs):
    """Write OUT/manifest.json (atomically); `runs` is [(name, config_id)]."""
    write_json(os.path.join(out, MANIFEST_FILE), {
        "schema": SCHEMA, "axes": axes, "grids": grids, "base": base, "data": data,
        "runs": [{"name": n, "config_id": cid, "dir": os.path.join("runs", n)} for n, cid in runs],
    })


def read_manifest(sweep_dir):
    """The content of SWEEP_DIR/manifest.json; a missing or foreign file is a DataError naming it."""
    return read_schema_json(os.path.join(sweep_dir, MANIFEST_FILE), SCHEMA, "sweep manifest")


def run_dirs(sweep_dir):
    """The run folders of a sweep: from its manifest, else every folder below it holding a record."""
    if os.path.isfile(os.path.join(sweep_dir, MANIFEST_FILE)):
        return [os.path.join(sweep_dir, r["dir"]) for r in read_manifest(sweep_dir).get("runs", [])]
    return sorted(os.path.dirname(p) for p in glob.glob(
        os.path.join(glob.escape(sweep_dir), "**", RECORD_FILE), recursive=True))
