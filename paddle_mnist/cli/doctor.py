"""`paddle-mnist doctor`: this installation on one screen (paddle_mnist.runners.doctor gathers it).

Paste its output into a bug report; read its notes when training is slower than you expected.
"""

import json
import textwrap

from paddle_mnist.cli.common import EXIT_OK
from paddle_mnist.runners.doctor import doctor

WIDTH = 100
LABEL = 12  # width of the first column


def _row(label, text):
    """One labelled entry, wrapped under its label."""
    return textwrap.fill(text, WIDTH, initial_indent=label.ljust(LABEL), subsequent_indent=" " * LABEL,
                         break_on_hyphens=False, break_long_words=False)


def _listed(found):
    """'name version, ...' for what is installed, then what is not."""
    have = [f"{name} {version}" for name, version in found.items() if version]
    missing = [name for name, version in found.items() if not version]
    return ", ".join(have) + (f"; not installed: {', '.join(missing)}" if missing else "")


def _paddle_line(p):
    build = p["build"]
    if p["cuda"]:
        build += f" {p['cuda']}, cuDNN {p['cudnn']}"
    commit = f", commit {p['commit'][:10]}" if p["commit"] else ""
    return f"{p['version']} from {p['distribution']}: {build} build, MKL {p['mkl'] or '?'}{commit}"


def _cpu_line(c):
    mkl = c["mkl_debug_cpu_type"]
    if mkl is None:
        mkl_text = "MKL_DEBUG_CPU_TYPE unset (MKL picks its code path)"
    elif mkl == "5" and c["amd_with_avx2"]:
        mkl_text = "MKL_DEBUG_CPU_TYPE=5 (MKL's AVX2 code on this AMD CPU)"
    else:
        mkl_text = f"MKL_DEBUG_CPU_TYPE={mkl}"
    threads = f"OMP_NUM_THREADS={c['omp_num_threads']}" if c["omp_num_threads"] else "OMP_NUM_THREADS unset"
    return f"{c['model'] or 'unknown'}, {c['cpu_count']} cores ({c['usable']} usable); {threads}; {mkl_text}"


def _optimizers_line(optimizers):
    missing = [o for o in optimizers if not o["available"]]
    names = " ".join(o["name"] for o in optimizers if o["available"])
    if not missing:
        return f"all {len(optimizers)}: {names}"
    lacking = ", ".join(f"{o['name']} (Paddle >= {o['since']})" for o in missing)
    return f"{names}; unavailable here: {lacking}"


def _data_lines(d):
    source, cache = d["default"], d["cache"]
    choice = {
        "local file": f"{source['path']} (a bare `train` reads it)",
        "paddle cache": f"Paddle's MNIST files in {source['path']}",
        "download": f"a bare `train` would download MNIST from {source.get('url')} into {source['path']}",
        "none": "none found and downloading is off: give --data PATH or --data synthetic",
    }[source["source"]]
    lines = [_row("Data", choice)]
    if source["tried"]:
        lines.append(_row("", "passed over: " + "; ".join(source["tried"])))
    size = f"{cache['bytes'] / 1e6:.1f} MB in {cache['entries']} parsed file(s)" if cache["exists"] else "empty"
    size = cache.get("problem") or size
    lines.append(_row("Cache", f"{cache['path']}: {size}"))
    return lines


def report_text(report):
    """The screen `paddle-mnist doctor` prints."""
    py, devices = report["python"], report["devices"]
    extras = {name: e["version"] for name, e in report["extras"].items()}
    lines = [
        _row("Python", f"{py['version']} ({py['executable']}) on {py['platform']}"),
        _row("Packages", _listed(report["packages"])),
        _row("Paddle", _paddle_line(report["paddle"])),
        _row("Devices", f"Paddle sees {', '.join(devices['visible'])}; `train` uses {devices['train_uses']}"),
        _row("CPU", _cpu_line(report["cpu"])),
        _row("Optimizers", _optimizers_line(report["optimizers"])),
        _row("Extras", _listed(extras)),
        *_data_lines(report["data"]),
    ]
    lines += [_row("Note" if i == 0 else "", f"- {note}") for i, note in enumerate(report["notes"])]
    return "\n".join(lines)


def run_doctor(args):
    report = doctor()
    print(json.dumps(report, indent=1) if args.json else report_text(report))
    return EXIT_OK


def add_parser(subparsers):
    p = subparsers.add_parser(
        "doctor", help="versions, Paddle build, devices, threads, data source: for bug reports and slowness",
        description="Show this installation on one screen: Python and package versions, Paddle's build "
                    "(CPU or CUDA), the devices it sees and the one `train` uses, CPU threads and the MKL "
                    "setting, the optimizers this Paddle offers, optional extras, and where a bare `train` "
                    "would get its data. Nothing is downloaded or trained.")
    p.add_argument("--json", action="store_true", help="print the report as JSON")
    p.set_defaults(func=run_doctor)
