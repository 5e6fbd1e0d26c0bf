"""Results, the medians over repeated runs, the targets' verdicts, the one table, the JSON file."""

from __future__ import annotations

import json
import math
import statistics
from dataclasses import asdict, dataclass, field
from pathlib import Path

from .targets import Target

MET = "met"
SHORT = "SHORT"


@dataclass
class Result:
    """One run of one endpoint."""

    requests: int
    seconds: float
    rps: float
    p50_ms: float
    p99_ms: float
    non2xx: int = 0
    errors: int = 0  # socket errors and timeouts
    exhausted: bool = False  # a load thread ran out of single-use material and stopped
    starved: int = 0  # requests sent with no refresh token left to chain (they fail)

    @property
    def ok_rps(self) -> float:
        """Throughput of 2xx answers only: failures are not throughput."""
        if not self.seconds:
            return 0.0
        good = max(0, self.requests - self.non2xx)
        return good / self.seconds


@dataclass
class Row:
    """One endpoint: its runs, one per round, in round order."""

    endpoint: str
    runs: list[Result] = field(default_factory=list)
    baseline: str | None = None  # the name of the row it is compared with
    target: Target | None = None
    floor: str | None = None  # the name of the bare row that bounds it (``Measured.floor``)
    note: str = ""

    @property
    def ok_rps(self) -> float | None:
        return _median([run.ok_rps for run in self.runs])

    @property
    def p50_ms(self) -> float | None:
        return _median([run.p50_ms for run in self.runs])

    @property
    def p99_ms(self) -> float | None:
        return _median([run.p99_ms for run in self.runs])

    @property
    def failures(self) -> int:
        """Non-2xx answers and socket errors over all runs."""
        return sum(run.non2xx + run.errors for run in self.runs)

    @property
    def exhausted(self) -> bool:
        return any(run.exhausted for run in self.runs)


def _median(values: list[float]) -> float | None:
    values = [value for value in values if not math.isnan(value)]
    return statistics.median(values) if values else None


def ratio(row: Row, by_name: dict[str, Row]) -> float | None:
    """The median over rounds of this run's req/s divided by its baseline's in the same round.

    Pairing runs by round keeps a slow moment of the machine (other work on the cores) from
    counting against one side only.
    """
    base = by_name.get(row.baseline or "")
    if base is None:
        return None
    return _median(
        [
            run.ok_rps / base_run.ok_rps
            for run, base_run in zip(row.runs, base.runs, strict=False)
            if base_run.ok_rps
        ]
    )


def verdict(row: Row, by_name: dict[str, Row]) -> str | None:
    """``met`` or ``SHORT`` for a row with a target; None for one without (or unmeasured)."""
    if row.target is None:
        return None
    factor, p99 = ratio(row, by_name), row.p99_ms
    if factor is None or p99 is None:
        return None
    fast_enough = row.target.p99_ms is None or p99 < row.target.p99_ms
    return MET if factor >= row.target.ratio and fast_enough else SHORT


def shortfalls(rows: list[Row]) -> list[str]:
    """One sentence per row short of its target, saying by how much."""
    by_name = {row.endpoint: row for row in rows}
    found = []
    for row in rows:
        factor, p99 = ratio(row, by_name), row.p99_ms
        if verdict(row, by_name) != SHORT or row.target is None or factor is None or p99 is None:
            continue
        reasons = []
        if factor < row.target.ratio:
            reasons.append(
                f"{factor:.2f} x {_short(row.baseline)}, target >= {row.target.ratio:.2f} x"
            )
        if row.target.p99_ms is not None and p99 >= row.target.p99_ms:
            reasons.append(f"p99 {_ms(p99)}, target < {row.target.p99_ms:g}ms")
        found.append(f"{row.endpoint}: {'; '.join(reasons)}{_beside_floor(row, by_name)}")
    return found


def _beside_floor(row: Row, by_name: dict[str, Row]) -> str:
    """Where the row stands against its floor: a bare app doing only the read it must do."""
    floor = by_name.get(row.floor or "")
    if floor is None:
        return ""
    ceiling = ratio(Row(floor.endpoint, floor.runs, baseline=row.baseline), by_name)
    reached = ratio(Row(row.endpoint, row.runs, baseline=floor.endpoint), by_name)
    if ceiling is None or reached is None:
        return ""
    return (
        f" (its floor, {_short(floor.endpoint)}, reached {ceiling:.2f} x {_short(row.baseline)};"
        f" this row is {reached:.2f} x {_short(floor.endpoint)})"
    )


def _short(name: str | None) -> str:
    """``GET /hello (bare Flask)`` -> ``/hello``."""
    parts = (name or "").split()
    return parts[1] if len(parts) > 1 else (name or "")


def _ms(value: float | None) -> str:
    if value is None or math.isnan(value):
        return "-"
    return f"{value:.1f}ms" if value < 100 else f"{value:.0f}ms"


def format_table(rows: list[Row], header: str) -> str:
    """One table: endpoint, req/s (2xx only), p50, p99, failures, ratio, target and verdict;
    each number the median of the row's runs."""
    by_name = {row.endpoint: row for row in rows}
    width = max([len("endpoint")] + [len(row.endpoint) for row in rows])
    ratios = {row.endpoint: _ratio_cell(row, by_name) for row in rows}
    ratio_width = max([len("ratio")] + [len(cell) for cell in ratios.values()])
    targets = {row.endpoint: row.target.describe() if row.target else "" for row in rows}
    target_width = max([len("target")] + [len(cell) for cell in targets.values()])
    lines = [header, ""]
    lines.append(
        f"{'endpoint':<{width}}  {'req/s':>8}  {'p50':>8}  {'p99':>8}  {'non-2xx':>8}  "
        f"{'ratio':<{ratio_width}}  {'target':<{target_width}}  status"
    )
    lines.append("-" * len(lines[-1]))
    notes = []
    for row in rows:
        rps = row.ok_rps
        if rps is None:
            cells = f"{'-':>8}  {'-':>8}  {'-':>8}  {'-':>8}"
        else:
            flag = "!" if (row.failures or row.exhausted) else ""
            cells = (
                f"{rps:>8.1f}  {_ms(row.p50_ms):>8}  {_ms(row.p99_ms):>8}  "
                f"{str(row.failures) + flag:>8}"
            )
        status = verdict(row, by_name) or ("-" if row.target else "")
        lines.append(
            f"{row.endpoint:<{width}}  {cells}  {ratios[row.endpoint]:<{ratio_width}}  "
            f"{targets[row.endpoint]:<{target_width}}  {status}".rstrip()
        )
        if row.note:
            notes.append(f"  {row.endpoint}: {row.note}")
    runs = sorted({len(row.runs) for row in rows if row.runs})
    lines.append("")
    lines.append(
        f"Medians of {'/'.join(map(str, runs)) or 0} run(s) per endpoint, taken in rounds; "
        "ratio = median over the rounds of req/s over the baseline's req/s in the same round."
    )
    lines.append(
        "req/s counts 2xx answers only; non-2xx (summed over the runs) includes socket errors "
        "(! = some requests failed, or single-use material ran out)."
    )
    targeted = [row for row in rows if row.target is not None]
    if targeted:
        met = [row for row in targeted if verdict(row, by_name) == MET]
        lines.append(f"Targets (issue 15): {len(met)} of {len(targeted)} met.")
        short = shortfalls(rows)
        if short:
            lines.append("Short of target:")
            lines.extend(f"  {sentence}" for sentence in short)
    if notes:
        lines.append("Notes:")
        lines.extend(notes)
    return "\n".join(lines)


def _ratio_cell(row: Row, by_name: dict[str, Row]) -> str:
    if row.baseline is None:
        return "(baseline)"
    factor = ratio(row, by_name)
    return f"{factor:.2f} x {_short(row.baseline)}" if factor is not None else "-"


def write_json(path: Path, rows: list[Row], settings: dict) -> None:
    by_name = {row.endpoint: row for row in rows}
    data = {
        "settings": settings,
        "results": [
            {
                "endpoint": row.endpoint,
                "baseline": row.baseline,
                "ok_rps": row.ok_rps,
                "p50_ms": row.p50_ms,
                "p99_ms": row.p99_ms,
                "ratio": ratio(row, by_name),
                "target": asdict(row.target) if row.target else None,
                "status": verdict(row, by_name),
                "note": row.note or None,
                "runs": [{**asdict(run), "ok_rps": run.ok_rps} for run in row.runs],
            }
            for row in rows
        ],
    }
    path.write_text(json.dumps(data, indent=2) + "\n")
