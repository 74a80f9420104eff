"""Atomic writes: a reader (or an interrupted run) never sees a half-written file."""

import json
import os
import tempfile
from contextlib import contextmanager

from paddle_mnist.core.errors import ConfigError, DataError


@contextmanager
def atomic_path(path):
    """Yield a temporary path next to `path`; rename it onto `path` only if the block succeeds."""
    path = os.fspath(path)
    directory = os.path.dirname(os.path.abspath(path))
    os.makedirs(directory, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=directory, prefix="." + os.path.basename(path) + ".", suffix=".tmp")
    os.close(fd)
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp, 0o666 & ~umask)  # mkstemp makes it private; give the file the usual permissions
    try:
        yield tmp
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise


def write_json(path, obj):
    """Write `obj` as JSON to `path` atomically."""
    with atomic_path(path) as tmp:
        with open(tmp, "w", encoding="utf-8") as f:
            json.dump(obj, f, indent=1, allow_nan=False)
            f.write("\n")
            f.flush()
            os.fsync(f.fileno())


def read_json(path):
    with open(path, encoding="utf-8") as f:
        return json.load(f)


def read_schema_json(path, schema, what):
    """A JSON object of the given schema (e.g. a run record); a missing, broken or foreign file is a
    DataError naming the file and `what` it should have been."""
    try:
        obj = read_json(path)
    except FileNotFoundError:
        raise DataError(f"{path}: no such {what}") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise DataError(f"{path}: not a {what} (not valid JSON: {e})") from None
    if not isinstance(obj, dict) or obj.get("schema") != schema:
        raise DataError(f"{path}: not a {what} (schema is not {schema!r})")
    return obj


def ensure_writable_dir(path, flag="--out"):
    """Create `path` if needed and prove it takes files, before any work that would write there:
    a run must never train for minutes and then fail to save. Raises ConfigError naming the path."""
    try:
        os.makedirs(path, exist_ok=True)
        fd, probe = tempfile.mkstemp(dir=path, prefix=".write-test-")
        os.close(fd)
        os.remove(probe)
    except OSError as e:
        raise ConfigError(f"{flag} {path}: cannot write there ({e.strerror or e})") from None
    return path
