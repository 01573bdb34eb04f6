"""What every section model of the site file is built from, and its located problems.

Kept apart from `config.schema` so that sections in their own modules (ratings, QA, work
orders) can use them while `SiteConfig` imports those sections.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict

Loc = tuple[str | int, ...]
Problems = list[tuple[Loc, str]]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class CrossReferenceError(ValueError):
    """Several located problems at once; the loader reports each with its own path."""

    def __init__(self, problems: Problems):
        self.problems = problems
        super().__init__("; ".join(m for _, m in problems))


def duplicates(kind: str, items: list[tuple[int, str]], field: str | None = None) -> Problems:
    """A problem for each entry whose key an earlier entry of `kind` already has."""
    out: Problems = []
    seen: dict[str, int] = {}
    for i, key in items:
        if key in seen:
            where: Loc = (kind, i, field) if field else (kind, i)
            out.append((where, f"duplicate {key!r} (also at {kind}[{seen[key]}])"))
        else:
            seen[key] = i
    return out
