"""The README's database diagram is generated from the SQLAlchemy metadata the migrations are
checked against, so it cannot drift: this test fails, printing the block to paste, when a table,
column, key or link changes."""

from __future__ import annotations

import re
from pathlib import Path

from sqlalchemy import Column, Table, create_mock_engine

from spacex_etl.db.tables import metadata

README = Path(__file__).resolve().parents[2] / "README.md"
_BLOCK = re.compile(r"```mermaid\nerDiagram\n.*?```\n", re.DOTALL)
_POSTGRESQL = create_mock_engine("postgresql://", executor=print).dialect
_TYPE_NAMES = {"timestamp with time zone": "timestamptz", "double precision": "float8"}


def _type(column: Column[object]) -> str:
    name = column.type.compile(dialect=_POSTGRESQL).lower()
    return _TYPE_NAMES.get(name, name).replace(" ", "_")


def _key(column: Column[object]) -> str:
    keys = [k for k, on in (("PK", column.primary_key), ("FK", bool(column.foreign_keys))) if on]
    return f" {', '.join(keys)}" if keys else ""


def _entity(table: Table) -> list[str]:
    lines = [f"    {table.name} {{"]
    lines += [f"        {_type(c)} {c.name}{_key(c)}" for c in table.columns]
    return [*lines, "    }"]


def _relations(table: Table) -> list[str]:
    """Foreign keys, and the links kept without one (`info["refers_to"]`, dotted)."""
    lines = []
    for column in table.columns:
        for fk in column.foreign_keys:
            target = fk.column.table.name
            lines.append(f'    {target} ||--o{{ {table.name} : "{column.name}"')
        if target_column := column.info.get("refers_to"):
            target = target_column.split(".")[0]
            lines.append(f'    {target} |o..o{{ {table.name} : "{column.name} (no FK)"')
    return lines


def er_diagram() -> str:
    tables = sorted(metadata.tables.values(), key=lambda t: t.name)
    lines = ["```mermaid", "erDiagram"]
    for table in tables:
        lines += _relations(table)
    for table in tables:
        lines += _entity(table)
    return "\n".join([*lines, "```"]) + "\n"


def test_readme_shows_the_schema_as_the_metadata_defines_it() -> None:
    found = _BLOCK.findall(README.read_text())
    expected = er_diagram()
    assert found == [expected], f"README's erDiagram is out of date; paste:\n{expected}"


def test_the_diagram_names_every_table_and_link() -> None:
    diagram = er_diagram()
    for table in metadata.tables:
        assert f"    {table} {{" in diagram
    assert 'launches ||--o{ launch_missions : "launch_id"' in diagram
    assert 'rockets |o..o{ launches : "rocket_id (no FK)"' in diagram
    assert "text id PK" in diagram
