"""What every section model of the site file is built from (shared by `config.schema`
and the sections kept in their own modules, such as `config.ratings`)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class CrossReferenceError(ValueError):
    """Several located problems at once; the loader reports each with its own path."""

    def __init__(self, problems: list[tuple[tuple[str | int, ...], str]]):
        self.problems = problems
        super().__init__("; ".join(m for _, m in problems))


Problems = list[tuple[tuple[str | int, ...], str]]


def duplicates(kind: str, items: list[tuple[int, str]], field: str | None = None) -> Problems:
    """A problem for each entry whose key an earlier entry of `kind` already has."""
    out: Problems = []
    seen: dict[str, int] = {}
    for i, key in items:
        if key in seen:
            where: tuple[str | int, ...] = (kind, i, field) if field else (kind, i)
            out.append((where, f"duplicate {key!r} (also at {kind}[{seen[key]}])"))
        else:
            seen[key] = i
    return out
