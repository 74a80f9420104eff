"""Run the notebooks in place, so they are stored with their outputs (figures visible on GitHub and
in AI Studio before anything runs), and write each one's measured run time into its first cell.

    python tools/notebooks/run.py                  # all four
    python tools/notebooks/run.py paths.ipynb      # one

Each notebook runs top to bottom in a fresh kernel (nbclient), in its own folder, on the digits
``paddle_mnist.notebook.find_digits`` finds; a cell that fails stops it with the error and the file
is left as it was. Needs the test extras (nbclient, ipykernel).
"""

import os
import re
import sys
import time
from pathlib import Path

import nbclient
import nbformat

HERE = Path(__file__).resolve().parent
RUNTIME = re.compile(r"^⏱.*$", re.MULTILINE)  # the run-time line of each notebook's first cell


def runtime_line(seconds, load):
    """The run-time line; `load`: the machine's load average during the run (said when it was busy)."""
    minutes = max(1, round(seconds / 60))
    cores = os.cpu_count()
    if load <= cores:
        return (f"⏱ 运行时间：在 {cores} 核 CPU 上约 {minutes} 分钟（实测）。"
                f" / Run time: about {minutes} min on a {cores}-core CPU (measured).")
    return (f"⏱ 运行时间：在 {cores} 核 CPU 上约 {minutes} 分钟（实测时机器很忙，平均负载约 {load:.0f}；空闲的机器上会快得多）。"
            f" / Run time: about {minutes} min on a {cores}-core CPU (measured on a busy machine, load average"
            f" about {load:.0f}; much faster on an idle one).")


def as_shown(text):
    """A stream's text as a notebook shows it: a progress bar's redraws (carriage returns) collapsed
    to the last one of each line, so the stored file holds one line per bar, not every refresh."""
    return "\n".join(line.rsplit("\r", 1)[-1] if line.rstrip("\r") else line for line in text.split("\n"))


def tidy(nb):
    """Consecutive pieces of one stream joined (nbclient keeps every write apart), then as shown."""
    for cell in nb.cells:
        merged = []
        for output in cell.get("outputs", []):
            last = merged[-1] if merged else None
            if output.get("output_type") == "stream" and last is not None and \
                    last.get("output_type") == "stream" and last["name"] == output["name"]:
                last["text"] += output["text"]
            else:
                merged.append(output)
        for output in merged:
            if output.get("output_type") == "stream":
                output["text"] = as_shown(output["text"])
        if "outputs" in cell:
            cell["outputs"] = merged


def run(path):
    nb = nbformat.read(str(path), as_version=4)
    start, load = time.perf_counter(), os.getloadavg()[0]
    nbclient.NotebookClient(nb, timeout=3600, kernel_name="python3",
                            resources={"metadata": {"path": str(path.parent)}}).execute()
    seconds, load = time.perf_counter() - start, (load + os.getloadavg()[0]) / 2
    tidy(nb)
    first = nb.cells[0]
    if RUNTIME.search(first.source):
        first.source = RUNTIME.sub(runtime_line(seconds, load), first.source)
    nbformat.write(nb, str(path))
    return seconds


def main(names):
    paths = [HERE / n for n in names] or sorted(HERE.glob("*.ipynb"))
    for path in paths:
        print(f"{path.name}: running ...", flush=True)
        print(f"{path.name}: {run(path):.0f} s", flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])
