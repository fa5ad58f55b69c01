"""What the figures were measured on: CPU, memory, disk, versions."""

from __future__ import annotations

import importlib.metadata
import os
import platform
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path


def _first_match(path: str, key: str) -> str | None:
    try:
        for line in Path(path).read_text().splitlines():
            name, _, value = line.partition(":")
            if name.strip() == key:
                return value.strip()
    except OSError:
        pass
    return None


def _cpu_model() -> str:
    return _first_match("/proc/cpuinfo", "model name") or platform.processor() or "unknown"


def _ram_gib() -> float | None:
    total = _first_match("/proc/meminfo", "MemTotal")  # "24576000 kB"
    return round(int(total.split()[0]) / 1024**2, 1) if total else None


def _disk(work_dir: Path) -> dict[str, object]:
    """Filesystem and device under the benchmark's SQLite files (fsync cost lives here)."""
    info: dict[str, object] = {"path": str(work_dir)}
    try:
        out = subprocess.run(
            ["findmnt", "-n", "-o", "SOURCE,FSTYPE,OPTIONS", "-T", str(work_dir)],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.split()
        if len(out) >= 2:
            info["device"], info["fstype"] = out[0], out[1]
    except (OSError, subprocess.CalledProcessError):
        pass
    device = str(info.get("device", ""))
    if device.startswith("/dev/"):
        rotational = Path(f"/sys/block/{Path(device).name}/queue/rotational")
        if rotational.exists():
            # Virtual disks often claim to be rotational; recorded, not interpreted.
            info["rotational"] = rotational.read_text().strip() == "1"
    usage = shutil.disk_usage(work_dir)
    info["size_gib"] = round(usage.total / 1024**3)
    return info


def _version(dist: str) -> str | None:
    try:
        return importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        return None


def describe(work_dir: Path) -> dict[str, object]:
    return {
        "cpu_model": _cpu_model(),
        "cores": os.cpu_count(),
        "ram_gib": _ram_gib(),
        "os": platform.platform(),
        "python": sys.version.split()[0],
        "sqlite": sqlite3.sqlite_version,
        "disk": _disk(work_dir),
        "outlast": _version("outlast"),
        "dbos": _version("dbos"),
    }


def one_line(machine: dict[str, object]) -> str:
    disk = machine["disk"]
    assert isinstance(disk, dict)
    disk_text = (
        f"{disk.get('fstype', '?')} on {disk.get('device', '?')} ({disk.get('size_gib')} GiB)"
    )
    return (
        f"{machine['cpu_model']}, {machine['cores']} cores, {machine['ram_gib']} GiB RAM; "
        f"{machine['os']}; Python {machine['python']}, SQLite {machine['sqlite']}; "
        f"disk: {disk_text}"
    )
