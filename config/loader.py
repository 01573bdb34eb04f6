"""Load and validate the site YAML; each error names the file, line, key and problem."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import yaml
from pydantic import ValidationError

from config.schema import CrossReferenceError, SiteConfig

DEFAULT_PATH = Path(__file__).with_name("site.yaml")

Loc = tuple[str | int, ...]

_FRIENDLY = {
    "extra_forbidden": "unknown key (misspelt, or in the wrong section?)",
    "missing": "required key is missing",
}


@dataclass(frozen=True)
class Problem:
    file: str
    line: int | None
    key: str
    message: str

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}" if self.line else self.file
        return f"{where}: {self.key or '(top level)'}: {self.message}"


class ConfigError(Exception):
    """Raised for any invalid site file; nothing from it has been applied."""

    def __init__(self, problems: list[Problem]):
        self.problems = problems
        super().__init__("\n".join(str(p) for p in problems))


class _SiteLoader(yaml.SafeLoader):
    """SafeLoader that leaves dates as text: pydantic then parses them and names the key.

    PyYAML's own timestamp constructor raises a bare ValueError on `2021-16-30`,
    which carries no line and no key.
    """


_SiteLoader.yaml_implicit_resolvers = {
    first: [(tag, rx) for tag, rx in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


def default_path() -> Path:
    return Path(os.environ.get("CALLCORE_CONFIG", DEFAULT_PATH))


def load(path: str | Path | None = None) -> SiteConfig:
    path = Path(path) if path is not None else default_path()
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError([Problem(str(path), None, "", "file not found")]) from None
    except UnicodeDecodeError as exc:
        raise ConfigError(
            [Problem(str(path), None, "", f"not UTF-8 text ({exc.reason})")]
        ) from None
    return parse(text, str(path))


def parse(text: str, name: str = "<config>") -> SiteConfig:
    try:
        node = yaml.compose(text, Loader=_SiteLoader)
        data = yaml.load(text, Loader=_SiteLoader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark else None
        msg = getattr(exc, "problem", None) or str(exc)
        raise ConfigError([Problem(name, line, "", f"YAML syntax: {msg}")]) from None
    except (ValueError, TypeError, RecursionError) as exc:  # a constructor's own error
        raise ConfigError([Problem(name, None, "", f"YAML value: {exc}")]) from None
    if not isinstance(data, dict):
        raise ConfigError([Problem(name, None, "", "the file must hold a mapping of sections")])
    try:
        return SiteConfig.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(_problems(exc, node, name, data)) from None


def _problems(exc: ValidationError, node: yaml.Node | None, name: str, data: dict) -> list[Problem]:
    out: list[Problem] = []
    for err in exc.errors():
        loc: Loc = tuple(err["loc"])
        cause = (err.get("ctx") or {}).get("error")
        if isinstance(cause, CrossReferenceError):
            for sub, msg in cause.problems:
                full = loc + sub
                out.append(Problem(name, _line(node, full), _key(full, data), msg))
            continue
        msg = _FRIENDLY.get(err["type"]) or err["msg"].removeprefix("Value error, ")
        out.append(Problem(name, _line(node, loc), _key(loc, data), msg))
    return out


def _key(loc: Loc, data: object) -> str:
    """`hotlines[3](12349).notice`: the path, with the entry's number or id to find it fast."""
    parts: list[str] = []
    cur = data
    for item in loc:
        if isinstance(item, int):
            label = f"[{item}]"
            if isinstance(cur, list) and 0 <= item < len(cur):
                cur = cur[item]
                if isinstance(cur, dict):
                    ident = cur.get("number") or cur.get("id")
                    if ident is not None:
                        label += f"({ident})"
            else:
                cur = None
            parts.append(label)
        else:
            # pydantic puts union/function tags into loc; they are not keys of the file
            if isinstance(cur, dict) and item not in cur and parts:
                if "[" in item or "function" in item:
                    continue
            parts.append(("." if parts else "") + str(item))
            cur = cur.get(item) if isinstance(cur, dict) else None
    return "".join(parts)


def _line(node: yaml.Node | None, loc: Loc) -> int | None:
    best = node.start_mark.line + 1 if node is not None else None
    for item in loc:
        if isinstance(node, yaml.MappingNode):
            nxt = next((v for k, v in node.value if getattr(k, "value", None) == item), None)
            if nxt is None:
                return best
            node = nxt
        elif isinstance(node, yaml.SequenceNode) and isinstance(item, int):
            if not 0 <= item < len(node.value):
                return best
            node = node.value[item]
        else:
            return best
        best = node.start_mark.line + 1
    return best
