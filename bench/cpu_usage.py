"""CPU seconds per service and per process, read from /proc, to see where a run's time went.

A service started by the launcher leads its own session, so a service's CPU
is that of every process in its session: worker processes it starts count as
its own. Only living processes are seen; a process that exits during a phase
loses what it used since the last snapshot.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

_TICKS = os.sysconf("SC_CLK_TCK")


@dataclass(frozen=True)
class CpuSnapshot:
    processes: dict[int, tuple[int, float]]  # pid -> (session id, CPU seconds, user + system, all threads)
    busy: float  # CPU seconds all cores spent not idle since boot

    def of_session(self, session: int) -> float:
        return sum(cpu for owner, cpu in self.processes.values() if owner == session)

    def of_process(self, pid: int) -> float:
        return self.processes.get(pid, (0, 0.0))[1]


def snapshot() -> CpuSnapshot:
    processes = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            text = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue  # exited meanwhile
        # The command name may contain spaces and parentheses: split after the last ')'.
        fields = text.rsplit(")", 1)[1].split()
        # After the name: state ppid pgrp session ... utime (12th) stime (13th).
        processes[int(entry)] = (int(fields[3]), (int(fields[11]) + int(fields[12])) / _TICKS)
    values = [int(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    idle = values[3] + values[4]  # idle + iowait
    return CpuSnapshot(processes, (sum(values[:8]) - idle) / _TICKS)


def usage(before: CpuSnapshot, after: CpuSnapshot, sessions: dict[str, int], processes: dict[str, int]) -> dict[str, float]:
    """CPU seconds between two snapshots of each named session and process, plus
    `other`: what the rest of the machine used (other users' work included)."""
    result = {name: after.of_session(sid) - before.of_session(sid) for name, sid in sessions.items()}
    result.update({name: after.of_process(pid) - before.of_process(pid) for name, pid in processes.items()})
    result["other"] = max(0.0, (after.busy - before.busy) - sum(result.values()))
    return result
