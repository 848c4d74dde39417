"""How the report writes figures: req/s, milliseconds, a result cell, a ratio cell."""

from __future__ import annotations

from plan import OTHER_LOAD_FLAG


def fmt_rps(v: float | None) -> str:
    if v is None or v != v:
        return "—"
    return f"{v:,.0f}" if v >= 100 else f"{v:.1f}"


def fmt_ms(us: float | None) -> str:
    if us is None or us != us:
        return "—"
    ms = us / 1000.0
    if ms < 1:
        return f"{ms:.3f}"
    if ms < 10:
        return f"{ms:.2f}"
    return f"{ms:.1f}" if ms < 100 else f"{ms:.0f}"


def cell(r: dict | None) -> str:
    if r is None:
        return "—"
    if "skip" in r:
        return f"n/a ({r['skip']})"
    if not r.get("requests", 1):
        return f"0 answers in {r.get('seconds', '?')} s"
    text = f"{fmt_rps(r['rps'])} · {fmt_ms(r['p50_us'])} · {fmt_ms(r.get('p99_us'))}"
    if r.get("errors"):
        text += f" ⚠{r['errors']} err"
    return text + (" †" if r.get("other_cpu", 0.0) > OTHER_LOAD_FLAG else "")


def ratio(a: dict | None, b: dict | None) -> str:
    if not a or not b or "skip" in a or "skip" in b or not b.get("rps"):
        return "—"
    parts = [f"{a['rps'] / b['rps']:.2f}×"]
    for key in ("p50_us", "p99_us"):
        if a.get(key) and b.get(key):
            parts.append(f"{a[key] / b[key]:.2f}×")
    return " · ".join(parts)
