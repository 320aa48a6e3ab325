"""The documentation says what the code does: settings tables and ``--help`` against ``Settings``.

- README.md's configuration table lists every user-facing ``Settings`` field as its
  ``ASSISTANT_*`` variable with the field's default, and nothing that is not a field. A field is
  user-facing unless it says otherwise (``Field(..., json_schema_extra={"user_facing": False})``).
- docs/INTERFACE.md's settings table (the ones users' scripts rely on) names only fields, with
  their defaults.
- A CLI option's help that names a variable (``[ASSISTANT_TOP_K, default 5]``) names a field and
  its default.

Table cells: one or more variables separated by commas; one default per variable separated by
" / " (or one default for all of them); ``unset`` (optionally followed by an explanation) for a
field whose default is None.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import click
from pydantic.fields import FieldInfo

import assistant.cli as cli
from assistant.config import Settings

REPO = Path(__file__).resolve().parents[1]
README = REPO / "README.md"
INTERFACE = REPO / "docs" / "INTERFACE.md"
PREFIX = "ASSISTANT_"


def _env(name: str) -> str:
    return PREFIX + name.upper()


FIELDS: dict[str, tuple[str, FieldInfo]] = {_env(n): (n, f) for n, f in Settings.model_fields.items()}


def _user_facing(info: FieldInfo) -> bool:
    extra = info.json_schema_extra if isinstance(info.json_schema_extra, dict) else {}
    return extra.get("user_facing", True) is not False


def _shown(default: Any) -> str:
    """How a table shows a default."""
    if default is None:
        return "unset"
    if isinstance(default, bool):
        return str(default).lower()
    if isinstance(default, float) and default.is_integer():
        return str(int(default))
    if isinstance(default, (int, float)):
        return str(default)
    return f"`{Path(default).as_posix() if isinstance(default, Path) else default}`"


def _same(cell: str, default: Any) -> bool:
    """Whether a table's default ``cell`` says ``default``."""
    text = cell.strip().strip("`").strip()
    if default is None:
        return text == "unset" or text.startswith("unset ")
    if isinstance(default, bool):
        return text.lower() == str(default).lower()
    if isinstance(default, (int, float)):
        try:
            return float(text) == float(default)
        except ValueError:
            return False
    return text == (default.as_posix() if isinstance(default, Path) else str(default))


def _suggested_row(env: str) -> str:
    name, info = FIELDS[env]
    return f"| `{env}` | {info.description or name} | {_shown(info.default)} |"


def settings_table(text: str, heading: str) -> list[tuple[int, list[str], list[str]]]:
    """``(line number, variables, defaults)`` per row of the first table under ``heading``."""
    lines = text.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("#") and heading in line)
    rows = []
    in_table = False
    for number, line in enumerate(lines[start + 1 :], start=start + 2):
        if not line.startswith("|"):
            if in_table:
                break
            if line.startswith("#"):
                break
            continue
        in_table = True
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if set(cells[0]) <= set("-: ") or not cells[0].startswith("`"):
            continue  # the separator or the header row
        names = re.findall(r"`([A-Z0-9_]+)`", cells[0])
        rows.append((number, names, [d.strip() for d in cells[-1].split(" / ")]))
    assert rows, f"no settings table under {heading!r}"
    return rows


def table_problems(text: str, name: str, heading: str, *, complete: bool) -> list[str]:
    """What is wrong with the settings table of document ``name`` (its ``text``), each problem
    saying which row to add or fix."""
    where = f"{name} (table under {heading!r})"
    problems: list[str] = []
    listed: set[str] = set()
    for number, names, defaults in settings_table(text, heading):
        if len(defaults) not in (1, len(names)):
            problems.append(
                f"{where}, line {number}: {len(names)} variables but {len(defaults)} defaults; "
                "write one default per variable, separated by ' / '"
            )
            continue
        for i, env in enumerate(names):
            listed.add(env)
            if env not in FIELDS:
                problems.append(
                    f"{where}, line {number}: `{env}` is not a Settings field; remove it or add the field "
                    "to assistant/config.py"
                )
                continue
            default = FIELDS[env][1].default
            cell = defaults[i] if len(defaults) > 1 else defaults[0]
            if not _same(cell, default):
                problems.append(
                    f"{where}, line {number}: `{env}` defaults to {_shown(default)} in Settings, the table "
                    f"says {cell!r}; fix the row"
                )
    if complete:
        for env, (_name, info) in FIELDS.items():
            if env not in listed and _user_facing(info):
                problems.append(f"{where}: add the row\n    {_suggested_row(env)}")
    return problems


def test_readme_configuration_table_matches_settings() -> None:
    problems = table_problems(README.read_text(encoding="utf-8"), "README.md", "Configuration", complete=True)
    assert not problems, "\n".join(problems)


def test_interface_settings_table_matches_settings() -> None:
    text = INTERFACE.read_text(encoding="utf-8")
    problems = table_problems(text, "docs/INTERFACE.md", "Settings", complete=False)
    assert not problems, "\n".join(problems)


def test_cli_help_names_settings_and_their_defaults() -> None:
    """``[ASSISTANT_X, default D]`` in an option's help: X is a field, D its default."""
    seen = 0
    problems = []

    def walk(command: click.Command, path: str) -> None:
        nonlocal seen
        for param in command.params:
            for env, default in re.findall(
                r"\[(ASSISTANT_\w+)(?:, default ([^\]]+))?\]", getattr(param, "help", None) or ""
            ):
                seen += 1
                if env not in FIELDS:
                    problems.append(f"`{path} {param.name}`: {env} is not a Settings field")
                elif default and not _same(default, FIELDS[env][1].default):
                    problems.append(
                        f"`{path} {param.name}`: help says default {default}, Settings says "
                        f"{_shown(FIELDS[env][1].default)}"
                    )
        for name, sub in getattr(command, "commands", {}).items():
            walk(sub, f"{path} {name}")

    walk(cli.main, "assistant")
    assert seen >= 3, "no option help names a setting: the check found nothing to check"
    assert not problems, "\n".join(problems)


def test_a_wrong_table_is_reported_row_by_row() -> None:
    """On a made-up README: a missing field, a wrong default, an unknown variable and a row with
    too few defaults each get a message naming the row to add or fix."""
    text = (
        "# Title\n\n## Configuration (environment)\n\n| variable | meaning | default |\n|---|---|---|\n"
        "| `ASSISTANT_TOP_K` | passages | 8 |\n| `ASSISTANT_ZORBIUM_MODE` | no such field | on |\n"
        "| `ASSISTANT_CHUNK_TOKENS`, `ASSISTANT_CHUNK_OVERLAP`, `ASSISTANT_BACKEND` | sizes | 200 / 32 |\n"
        "| `ASSISTANT_CORPUS_DIR` | corpus | `corpus` |\n\nAfter the table.\n"
    )
    problems = table_problems(text, "tmp-doc-check.md", "Configuration", complete=True)
    assert problems[:3] == [
        "tmp-doc-check.md (table under 'Configuration'), line 7: `ASSISTANT_TOP_K` defaults to 5 in "
        "Settings, the table says '8'; fix the row",
        "tmp-doc-check.md (table under 'Configuration'), line 8: `ASSISTANT_ZORBIUM_MODE` is not a Settings "
        "field; remove it or add the field to assistant/config.py",
        "tmp-doc-check.md (table under 'Configuration'), line 9: 3 variables but 2 defaults; write one "
        "default per variable, separated by ' / '",
    ]
    added = [p for p in problems[3:] if "add the row" in p]
    assert (
        "| `ASSISTANT_INDEX_DIR` | Index folder (Chroma, docstore, BM25). | `indexes/default` |" in added[0]
    )
    assert not any("ASSISTANT_CORPUS_DIR" in p for p in problems)
    assert any("`ASSISTANT_CHUNK_TOKENS` |" in p for p in added), "a field of a broken row is still missing"
