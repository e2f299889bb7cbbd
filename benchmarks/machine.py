"""One description of the machine for every benchmark's RESULTS.md entry."""

import datetime
import os
import platform


def cpu_model():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def memory_gib():
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    except (ValueError, OSError, AttributeError):
        return float("nan")


def describe_machine():
    import numpy
    import torch

    load = ", ".join(f"{x:.1f}" for x in os.getloadavg()) if hasattr(os, "getloadavg") else "n/a"
    gpu = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "no GPU"
    return (f"{datetime.date.today().isoformat()} · {cpu_model()} · {os.cpu_count()} cores · "
            f"{memory_gib():.0f} GiB · {gpu} · Python {platform.python_version()} · torch {torch.__version__} · "
            f"numpy {numpy.__version__} · load average at start {load}")
