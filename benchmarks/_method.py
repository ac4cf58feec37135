"""The one measuring method of cxrkit's speed benchmarks (issue 16): figures that survive a quiet machine.

Rules every speed benchmark follows through this module:

* **Interleaved rounds**: every side runs once per round, in an order that alternates between rounds, so
  both see the same machine; figures are medians over rounds (at least 3).
* **Load recorded**: the 1-minute load average is read before and after each round, and the CPU other
  processes used during it is measured (``/proc/stat`` less the side's own CPU time). A round is *loaded*
  when other processes used more than ``OTHERS_LIMIT`` (0.5) cores meanwhile, or the load stayed above the
  core count; a ratio is only given from unloaded rounds, and is **refused** (``None`` with the reason) when
  fewer than 3 rounds were unloaded. (The load average alone cannot tell a benchmark's own 2 threads from
  another job's; the direct measure can.)
* **CPU time beside wall time**: per item, CPU seconds of the measuring process (all its threads,
  ``time.process_time``) or of a child process (``os.wait4`` rusage), next to wall seconds.
* **Threads stated**: callers measure each side at 1 thread and at all usable cores.

    from _method import Side, interleave, summarize, ratio
    res = interleave({"a": Side(run_a, n_items=12), "b": Side(run_b, n_items=12)}, rounds=5)
    print(summarize(res["a"]), ratio(res["a"], res["b"]))
"""

from __future__ import annotations

import os
import statistics
import subprocess
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

MIN_ROUNDS = 3


def cores() -> int:
    """Logical cores of the machine (what the load average is compared with, and the "all threads" count;
    a process pinned to one core still shares the machine's load)."""
    return os.cpu_count() or 1


def load1() -> float:
    """The 1-minute load average."""
    return os.getloadavg()[0]


#: other processes' CPU use during a round (in cores, from /proc/stat less the measured side's own CPU time)
#: above which the round counts as loaded
OTHERS_LIMIT = 0.5


def _busy_seconds() -> float | None:
    """CPU seconds all processes have used since boot (``/proc/stat``: user+nice+system+irq+softirq+steal)."""
    try:
        with open("/proc/stat", encoding="ascii") as f:
            vals = [int(v) for v in f.readline().split()[1:9]]
    except (OSError, ValueError):  # pragma: no cover - not Linux
        return None
    user, nice, system, _idle, _iowait, irq, softirq, steal = vals
    return (user + nice + system + irq + softirq + steal) / os.sysconf("SC_CLK_TCK")


@dataclass
class Round:
    """One timed run of one side: ``n`` items, wall and CPU seconds, load before and after, and the CPU that
    other processes used meanwhile (``others_cores``; None where /proc/stat is unavailable)."""

    n: int
    wall_s: float
    cpu_s: float
    load_before: float
    load_after: float
    others_cores: float | None = None

    @property
    def loaded(self) -> bool:
        """Other jobs competed: other processes used more than OTHERS_LIMIT cores during the round, or the load
        stayed above the core count (before and after). Without /proc/stat: any load above the core count."""
        if self.others_cores is None:
            return max(self.load_before, self.load_after) > cores()
        return self.others_cores > OTHERS_LIMIT or min(self.load_before, self.load_after) > cores()


class Probe:
    """Started before a timed run; :meth:`round` after it gives the :class:`Round` with loads and the CPU
    other processes used meanwhile."""

    def __init__(self) -> None:
        self.load_before = load1()
        self._busy = _busy_seconds()

    def round(self, n: int, wall_s: float, cpu_s: float, *, own_cpu_s: float | None = None) -> Round:
        """``own_cpu_s``: all CPU the measured side used (default ``cpu_s``), subtracted from the machine's."""
        busy = _busy_seconds()
        others = None
        if busy is not None and self._busy is not None and wall_s > 0:
            own = cpu_s if own_cpu_s is None else own_cpu_s
            others = round(max(0.0, busy - self._busy - own) / wall_s, 3)
        return Round(int(n), wall_s, cpu_s, self.load_before, load1(), others)


@dataclass
class Side:
    """A thing to time: ``run()`` does the work once and returns how many items it handled, or a
    ``(items, cpu_seconds)`` pair when the CPU time is measured elsewhere (a child process)."""

    run: Callable[[], Any]
    n_items: int | None = None
    setup: Callable[[], None] | None = None
    rounds: list[Round] = field(default_factory=list)


def time_once(fn: Callable[[], Any]) -> Round:
    """Run ``fn`` once: wall seconds, CPU seconds (this process, or what ``fn`` returns), load around it."""
    probe = Probe()
    w0, c0 = time.perf_counter(), time.process_time()
    out = fn()
    wall, cpu = time.perf_counter() - w0, time.process_time() - c0
    n = out
    if isinstance(out, tuple):
        n, cpu = out
    return probe.round(int(n), wall, cpu)


def interleave(sides: Mapping[str, Side], rounds: int, *, warmup: bool = True) -> dict[str, list[Round]]:
    """Run every side once per round, alternating the order (forward, then backward) between rounds."""
    if rounds < MIN_ROUNDS:
        raise ValueError(f"rounds must be >= {MIN_ROUNDS}, got {rounds}")
    names = list(sides)
    for name in names:
        if sides[name].setup is not None:
            sides[name].setup()
        if warmup:
            sides[name].run()
    for r in range(rounds):
        for name in names if r % 2 == 0 else names[::-1]:
            sides[name].rounds.append(time_once(sides[name].run))
    return {name: sides[name].rounds for name in names}


def run_child(cmd: Sequence[str], *, env: Mapping[str, str] | None = None, cwd: str | None = None) -> tuple[float, float]:
    """Run a child process to completion: ``(wall_s, cpu_s)`` where CPU is its user + system time (its
    threads and any children it waited for). Raises CalledProcessError on a non-zero exit."""
    full_env = dict(os.environ)
    full_env.update(env or {})
    w0 = time.perf_counter()
    proc = subprocess.Popen(list(cmd), env=full_env, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - w0
    proc.returncode = os.waitstatus_to_exitcode(status)
    err = proc.stderr.read().decode(errors="replace") if proc.stderr else ""
    if proc.returncode != 0:
        raise subprocess.CalledProcessError(proc.returncode, list(cmd), stderr=err)
    return wall, usage.ru_utime + usage.ru_stime


def summarize(rounds: Sequence[Round]) -> dict[str, Any]:
    """Medians over rounds: ms per item (wall, CPU), items/s (wall, CPU), loads, loaded-round count."""
    per_wall = [r.wall_s / r.n * 1000 for r in rounds]
    per_cpu = [r.cpu_s / r.n * 1000 for r in rounds]
    return {
        "rounds": len(rounds),
        "ms_per_item_wall": round(statistics.median(per_wall), 3),
        "ms_per_item_cpu": round(statistics.median(per_cpu), 3),
        "items_per_s_wall": round(1000 / statistics.median(per_wall), 2),
        "items_per_s_cpu": round(1000 / statistics.median(per_cpu), 2),
        "wall_range_ms": [round(min(per_wall), 3), round(max(per_wall), 3)],
        "load_max": round(max(max(r.load_before, r.load_after) for r in rounds), 2),
        "others_cores_max": max((r.others_cores for r in rounds if r.others_cores is not None), default=None),
        "loaded_rounds": sum(r.loaded for r in rounds),
    }


def ratio(ours: Sequence[Round], peer: Sequence[Round], *, cpu: bool = False) -> dict[str, Any]:
    """Speed of ``ours`` over ``peer`` (peer time per item / ours), median of per-round ratios, from rounds
    where neither side was loaded. ``value`` is None (refused) when fewer than 3 such rounds exist."""
    pairs = [(a, b) for a, b in zip(ours, peer) if not a.loaded and not b.loaded]
    key = (lambda r: r.cpu_s / r.n) if cpu else (lambda r: r.wall_s / r.n)
    per = [key(b) / key(a) for a, b in pairs]
    if len(per) < MIN_ROUNDS:
        return {"value": None, "refused": f"only {len(per)} of {len(ours)} rounds were unloaded",
                "rounds": [round(x, 2) for x in per]}
    return {"value": round(statistics.median(per), 2), "rounds": [round(x, 2) for x in per], "refused": None}


def fmt_ratio(r: Mapping[str, Any]) -> str:
    """``4.3x`` or ``refused (load)``."""
    return f"{r['value']:.1f}x" if r.get("value") is not None else "refused (load)"


def load_note(all_rounds: Mapping[str, Sequence[Round]]) -> str:
    """One line: load range over every round and how many were loaded."""
    rs = [r for v in all_rounds.values() for r in v]
    lo = min(min(r.load_before, r.load_after) for r in rs)
    hi = max(max(r.load_before, r.load_after) for r in rs)
    others = [r.others_cores for r in rs if r.others_cores is not None]
    n_loaded = sum(r.loaded for r in rs)
    tail = ("" if not n_loaded else "; LOADED: figures not quotable, ratios refused" if n_loaded == len(rs)
            else "; ratios from the unloaded rounds only")
    other_txt = (f", other processes' CPU at most {max(others):.2f} cores during a round" if others else "")
    return (f"1-minute load {lo:.2f}-{hi:.2f} over the rounds, this benchmark's own threads included{other_txt} "
            f"({cores()} cores; {n_loaded} of {len(rs)} side-rounds loaded: other processes above "
            f"{OTHERS_LIMIT} cores or load above the core count{tail})")


def thread_env(threads: int) -> dict[str, str]:
    """Environment that holds every common thread pool to ``threads`` (ONNX Runtime via CXRKIT_THREADS)."""
    t = str(threads)
    return {"OMP_NUM_THREADS": t, "MKL_NUM_THREADS": t, "OPENBLAS_NUM_THREADS": t, "CXRKIT_THREADS": t}


def as_records(rounds: Sequence[Round]) -> list[dict[str, Any]]:
    """Rounds as JSON-ready dicts (raw figures for benchmarks/results/*.jsonl)."""
    return [asdict(r) for r in rounds]
