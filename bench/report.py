"""Results, the one table, and the JSON file."""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass
from pathlib import Path


@dataclass
class Result:
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
    endpoint: str
    result: Result | None
    baseline: str | None = None
    note: str = ""


def ratio(row: Row, by_name: dict[str, Row]) -> float | None:
    base = by_name.get(row.baseline or "")
    if row.result is None or base is None or base.result is None or not base.result.ok_rps:
        return None
    return row.result.ok_rps / base.result.ok_rps


def _short(name: str | None) -> str:
    """``GET /hello (bare Flask)`` -> ``/hello``."""
    parts = (name or "").split()
    return parts[1] if len(parts) > 1 else (name or "")


def _ms(value: float) -> str:
    if math.isnan(value):
        return "-"
    return f"{value:.1f}ms" if value < 100 else f"{value:.0f}ms"


def format_table(rows: list[Row], header: str) -> str:
    """One table: endpoint, req/s (2xx only), p50, p99, non-2xx, ratio to its baseline."""
    by_name = {row.endpoint: row for row in rows}
    width = max([len("endpoint")] + [len(row.endpoint) for row in rows])
    lines = [header, ""]
    lines.append(
        f"{'endpoint':<{width}}  {'req/s':>8}  {'p50':>8}  {'p99':>8}  {'non-2xx':>8}  "
        "vs baseline req/s"
    )
    lines.append("-" * len(lines[-1]))
    notes = []
    for row in rows:
        result = row.result
        if result is None:
            cells = f"{'-':>8}  {'-':>8}  {'-':>8}  {'-':>8}"
        else:
            bad = result.non2xx + result.errors
            flag = "!" if (bad or result.exhausted) else ""
            cells = (
                f"{result.ok_rps:>8.1f}  {_ms(result.p50_ms):>8}  {_ms(result.p99_ms):>8}  "
                f"{str(bad) + flag:>8}"
            )
        factor = ratio(row, by_name)
        versus = f"{factor:.2f} x {_short(row.baseline)}" if factor is not None else ""
        if row.baseline is None:
            versus = "(baseline)"
        elif factor is None:
            versus = "-"
        lines.append(f"{row.endpoint:<{width}}  {cells}  {versus}")
        if row.note:
            notes.append(f"  {row.endpoint}: {row.note}")
    lines.append("")
    lines.append(
        "req/s counts 2xx answers only, over the whole run; non-2xx includes socket errors "
        "(! = some requests failed, or single-use material ran out)."
    )
    if notes:
        lines.append("Notes:")
        lines.extend(notes)
    return "\n".join(lines)


def write_json(path: Path, rows: list[Row], settings: dict) -> None:
    by_name = {row.endpoint: row for row in rows}
    data = {
        "settings": settings,
        "results": [
            {
                "endpoint": row.endpoint,
                "baseline": row.baseline,
                "ratio": ratio(row, by_name),
                "note": row.note or None,
                **(
                    {**asdict(row.result), "ok_rps": row.result.ok_rps}
                    if row.result
                    else {"error": "not measured"}
                ),
            }
            for row in rows
        ],
    }
    path.write_text(json.dumps(data, indent=2) + "\n")
