"""OpenVINO's error texts as a client reads them: the reason, without OpenVINO's source references.

OpenVINO's messages interleave the reason with lines that point into its sources
(``Exception from src/...``, ``Check '...' failed at src/...``), and a line may carry the
reason before such a reference (``[CPU] Add node with name 'y' Check '...' failed at src/...``).
"""

from __future__ import annotations


def reason_lines(exc: BaseException) -> list[str]:
    """The lines of ``exc``'s text that say what is wrong, each cut before any ``Check '...``."""
    kept = []
    for line in str(exc).splitlines():
        line = line.split(" Check '", 1)[0].strip()
        if line and "src/" not in line and not line.startswith("Check '"):
            kept.append(line.rstrip(":"))
    return kept


def first_line(exc: BaseException) -> str:
    """The first line that says what is wrong (``Incorrect weights in bin file!``); a load error's detail."""
    lines = reason_lines(exc)
    if lines:
        return lines[0]
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def reason(exc: BaseException) -> str:
    """Every line that says what is wrong, joined (at most 500 characters); an inference error's detail."""
    return ": ".join(reason_lines(exc))[:500] or type(exc).__name__
