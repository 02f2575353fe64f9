"""The suite's table: every figure beside its target (issue 8's, as issue 20 updated
them), and the ratio."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

KIB = 1024
GIB = 1024**3


@dataclass(frozen=True)
class Row:
    label: str
    value: str
    target: str = ""
    ratio: float | None = None
    met: bool | None = None

    def as_json(self) -> dict[str, Any]:
        return {
            "measure": self.label,
            "value": self.value,
            "target": self.target,
            "ratio": None if self.ratio is None else round(self.ratio, 3),
            "met": self.met,
        }


def _get(results: dict[str, Any], *path: str) -> Any:
    node: Any = results
    for part in path:
        if not isinstance(node, dict) or part not in node:
            return None
        node = node[part]
    return node


def _num(value: Any, unit: str = "") -> str:
    if value is None:
        return "n/a"
    if isinstance(value, float) and value < 100:
        return f"{value:,.2f}{unit}"
    return f"{value:,.0f}{unit}"


def _at_least(label: str, value: Any, target: float, shown: str) -> Row:
    if value is None:
        return Row(label, "n/a", shown)
    ratio = value / target
    return Row(label, _num(value), shown, ratio, ratio >= 1)


def _at_most(label: str, value: Any, target: float, shown: str, unit: str = "") -> Row:
    if value is None:
        return Row(label, "n/a", shown)
    ratio = value / target
    return Row(label, _num(value, unit), shown, ratio, ratio <= 1)


def rows(results: dict[str, Any]) -> list[Row]:
    """The table, in the issue's order; a missing figure shows as n/a (and misses)."""
    return [
        *_throughput(results),
        *_latency(results.get("latency") or {}),
        *_memory(results.get("memory") or {}),
        *_recovery(results.get("recovery") or {}),
    ]


def _ratio(label: str, numerator: Any, denominator: Any, target: float | None) -> Row:
    if numerator is None or not denominator:
        return Row(label, "n/a", "" if target is None else f">= {target}")
    ratio = numerator / denominator
    if target is None:
        return Row(label, f"{ratio:.3f}")
    return Row(label, f"{ratio:.3f}", f">= {target}", ratio / target, ratio >= target)


def _throughput(results: dict[str, Any]) -> list[Row]:
    ceiling = _get(results, "ceiling", "events_per_s")
    worker = _get(results, "pulse", "events_per_s")
    quix = _get(results, "peers", "quix", "events_per_s")
    faust = _get(results, "peers", "faust", "events_per_s")
    typical = _get(results, "core", "typical_account", "events_per_s")
    two = _get(results, "scale", "events_per_s")
    return [
        Row("1 ceiling: raw aiokafka getmany, events/s", _num(ceiling)),
        _at_least(
            "2 pure core: decode+validate+signals, events/s",
            _get(results, "core", "events_per_s"),
            50_000,
            ">= 50,000 (aim 100,000)",
        ),
        Row("  pure core, one typical account (bench.core), events/s", _num(typical)),
        *_replay(results.get("replay") or {}),
        Row("3 Pulse worker end to end (Redis view on), events/s", _num(worker)),
        _ratio("  Pulse / ceiling", worker, ceiling, 0.05),
        Row("  two Pulse workers, one group, events/s", _num(two)),
        _ratio("  two workers / one", two, worker, 1.8),
        Row("4 Quix Streams peer, events/s", _num(quix)),
        _ratio("  Pulse / Quix Streams", worker, quix, 1.0),
        Row("  faust peer (one table write per event), events/s", _num(faust)),
        _ratio("  Pulse / faust peer", worker, faust, None),
    ]


def _replay(replay: dict[str, Any]) -> list[Row]:
    """`pulse replay` of the population on one process and on every core, and of a year."""
    cores = replay.get("cores") or 0
    one, every = replay.get("processes_1") or {}, replay.get(f"processes_{cores}") or {}
    year = replay.get("year") or {}
    return [
        _at_least(
            f"  pulse replay on {cores} cores, events/s",
            every.get("events_per_s"),
            50_000,
            ">= 50,000 on two cores",
        ),
        _ratio(
            f"  replay on {cores} cores / on one",
            every.get("events_per_s"),
            one.get("events_per_s"),
            None,
        ),
        Row(
            f"  replay on {cores} cores, peak RSS of all its processes, MiB",
            _num((every.get("peak_rss_bytes") or 0) / 2**20 or None),
        ),
        Row(
            f"  replay of a year of {_num(year.get('accounts'))} accounts "
            f"({_num(year.get('events'))} events), events/s",
            _num(year.get("events_per_s")),
        ),
        _at_most(
            "  replay of a year, peak RSS of all its processes, MiB",
            (year.get("peak_rss_bytes") or 0) / 2**20 or None,
            GIB / 2**20,
            "<= 1,024 (1,000 accounts)",
        ),
    ]


def _latency(latency: dict[str, Any]) -> list[Row]:
    rate = latency.get("rate_per_s")
    p50, p95 = _num(latency.get("p50_ms")), _num(latency.get("p95_ms"))
    return [
        Row(f"5 event-to-trigger at {_num(rate)} events/s, p50 / p95 ms", f"{p50} / {p95}"),
        _at_most("  p99 ms", latency.get("p99_ms"), 100, "<= 100"),
        Row(
            "  warm-up first: the load's accounts' day before, events / s",
            f"{_num(latency.get('warm_up_events'))} / {_num(latency.get('warm_up_s'))}",
        ),
    ]


def _memory(memory: dict[str, Any]) -> list[Row]:
    state = memory.get("state_bytes") or {}
    mean, p95 = _num(state.get("mean")), _num(state.get("p95"))
    table = [
        _at_most(
            "6 stored state bytes per account, p50 (typical)", state.get("p50"), 2 * KIB, "<= 2,048"
        ),
        Row("  stored state bytes per account, mean / p95", f"{mean} / {p95}"),
        Row("  the core's state JSON before compressing, mean", _num(state.get("json_mean"))),
    ]
    sizes = memory.get("rss") or []
    for index, size in enumerate(sizes):
        rss = size.get("rss_bytes")
        mib = rss / 2**20 if rss else None
        label = f"  worker RSS at {size.get('accounts', 0):,} accounts, MiB"
        if index == len(sizes) - 1:
            table.append(_at_most(label, mib, GIB / 2**20, "<= 1,024 at 100,000"))
        else:
            table.append(Row(label, _num(mib)))
    return table


def _recovery(recovery: dict[str, Any]) -> list[Row]:
    accounts = _num(recovery.get("accounts"))
    return [
        _at_most(
            f"7 ready after restart, local store, {accounts} accounts, s",
            recovery.get("ready_local_store_s"),
            5,
            "<= 5",
        ),
        _at_most(
            f"  ready after restart, changelog only, {accounts} accounts, s",
            recovery.get("ready_changelog_s"),
            60,
            "<= 60",
        ),
        Row(
            "  a fresh worker with no state: start to ready, s", _num(recovery.get("fresh_start_s"))
        ),
    ]


def render(results: dict[str, Any], table: list[Row]) -> str:
    meta = results.get("meta", {})
    population = meta.get("population", {})
    mode = "quick" if meta.get("quick") else "full"
    head = (
        f"Pulse benchmark suite, run {meta.get('run_id')} ({mode}): "
        f"{population.get('events', 0):,} events, {population.get('accounts', 0):,} accounts x "
        f"{population.get('days', 0)} days, {meta.get('partitions')} partitions"
    )
    width = max(len(row.label) for row in table)
    lines = [head, "", f"{'measure':<{width}}  {'value':>15}  {'target':<22} {'ratio':>7}  met"]
    for row in table:
        ratio = "" if row.ratio is None else f"{row.ratio:.2f}"
        met = "" if row.met is None else ("yes" if row.met else "NO")
        lines.append(f"{row.label:<{width}}  {row.value:>15}  {row.target:<22} {ratio:>7}  {met}")
    for note in meta.get("notes", []):
        lines.append(f"note: {note}")
    for section, error in (results.get("errors") or {}).items():
        lines.append(f"ERROR in {section}: {error.splitlines()[0] if error else ''}")
    return "\n".join(lines)
