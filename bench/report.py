"""Where the benchmark scripts write their tables: bench/results/ and README.md between markers."""

from __future__ import annotations

from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
RESULTS = REPO / "bench" / "results"


def publish(table: str, name: str, readme_section: str | None) -> None:
    """Write ``table`` to bench/results/NAME.md and, if given, into README.md's section.

    A section is the text between ``<!-- SECTION table: start -->`` and ``<!-- SECTION table: end -->``.
    """
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / f"{name}.md").write_text(table)
    if readme_section is None:
        return
    path = REPO / "README.md"
    readme = path.read_text()
    start_marker, end_marker = (
        f"<!-- {readme_section} table: start -->",
        f"<!-- {readme_section} table: end -->",
    )
    start, end = readme.index(start_marker) + len(start_marker), readme.index(end_marker)
    path.write_text(readme[:start] + "\n" + table + readme[end:])
