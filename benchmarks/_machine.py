"""A one-line description of the machine and software a benchmark ran on."""

import datetime
import os
import platform


def _cpu_model():
    try:
        with open("/proc/cpuinfo") as cpuinfo:
            for line in cpuinfo:
                if line.lower().startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "unknown CPU"


def _memory_gib():
    try:
        with open("/proc/meminfo") as meminfo:
            for line in meminfo:
                if line.startswith("MemTotal:"):
                    return int(line.split()[1]) / 2**20
    except OSError:
        pass
    return None


def _version(module_name):
    try:
        module = __import__(module_name)
    except ImportError:
        return "absent"
    return getattr(module, "__version__", "?")


def describe():
    """``"<CPU>, <n> cores (<m> usable), <RAM> GiB RAM; Python x, numpy y, ...; <date>"``."""
    cores = os.cpu_count()
    try:
        usable = len(os.sched_getaffinity(0))
    except AttributeError:
        usable = cores
    memory = _memory_gib()
    memory = f"{memory:.0f} GiB RAM" if memory is not None else "RAM unknown"
    versions = ", ".join(
        f"{name} {_version(name)}" for name in ("numpy", "scipy", "numba", "fipy")
    )
    date = datetime.date.today().isoformat()
    return (
        f"{_cpu_model()}, {cores} cores ({usable} usable), {memory}; "
        f"Python {platform.python_version()}, {versions}; {date}"
    )


if __name__ == "__main__":
    print(describe())


def write_section(results, section, text):
    """Replace (or append) the ``section`` heading's part of ``results`` (a Path), keeping the others; atomic."""
    import os
    import tempfile

    old = results.read_text() if results.exists() else "# Benchmark results\n"
    lines = old.splitlines(keepends=True)
    start = next((i for i, line in enumerate(lines) if line.strip() == section), None)
    if start is None:
        new = old.rstrip("\n") + "\n\n" + text
    else:
        end = next((i for i in range(start + 1, len(lines)) if lines[i].startswith("## ")), len(lines))
        after = "".join(lines[end:])
        new = "".join(lines[:start]) + text + ("\n" + after if after else "")
    handle, temporary = tempfile.mkstemp(dir=results.parent, prefix=".RESULTS-", suffix=".md")
    try:
        with os.fdopen(handle, "w") as file:
            file.write(new)
        os.chmod(temporary, 0o644)
        os.replace(temporary, results)
    except BaseException:
        os.unlink(temporary)
        raise


def best_time(function, repeats=3):
    """The shortest of ``repeats`` wall times of ``function()`` (other processes on the machine only ever add time)."""
    import time

    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        function()
        times.append(time.perf_counter() - start)
    return min(times)


def print_and_record(report, section, command, write):
    """Run ``report()`` (which prints), print its output, and with ``write`` record it under ``section`` in RESULTS.md."""
    import contextlib
    import io
    from pathlib import Path

    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        report()
    print(printed.getvalue(), end="")
    if write:
        write_section(Path(__file__).resolve().parent / "RESULTS.md", section,
                      f"{section}\n\n```\n{printed.getvalue()}```\n\nCommand: `{command}`\n")
