"""What every section of the site file shares: located problems.

Kept apart from `config.schema` so that sections in their own modules (work orders) can
raise them while `SiteConfig` imports those sections.
"""

from __future__ import annotations

Loc = tuple[str | int, ...]


class CrossReferenceError(ValueError):
    """Several located problems at once; the loader reports each with its own path."""

    def __init__(self, problems: list[tuple[Loc, str]]):
        self.problems = problems
        super().__init__("; ".join(m for _, m in problems))
