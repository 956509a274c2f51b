"""Apply alembic migrations shipped inside the package, from any working directory."""

from __future__ import annotations

import logging
from importlib.resources import files

from alembic import command
from alembic.config import Config
from alembic.script import ScriptDirectory
from sqlalchemy.engine import URL

from spacex_etl.db.url import async_url

_log = logging.getLogger(__name__)


def alembic_config(database_url: str | URL) -> Config:
    config = Config()
    config.set_main_option("script_location", str(files("spacex_etl.db") / "migrations"))
    # ConfigParser treats "%" as interpolation; passwords may contain it.
    url = async_url(database_url).render_as_string(hide_password=False).replace("%", "%%")
    config.set_main_option("sqlalchemy.url", url)
    return config


def upgrade(database_url: str | URL, revision: str = "head") -> None:
    command.upgrade(alembic_config(database_url), revision)
    _log.info("database schema at revision %s", head_revision() if revision == "head" else revision)


def downgrade(database_url: str | URL, revision: str) -> None:
    command.downgrade(alembic_config(database_url), revision)


def head_revision() -> str:
    """The revision this version's migrations end at."""
    script = ScriptDirectory(str(files("spacex_etl.db") / "migrations"))
    head = script.get_current_head()
    if head is None:
        raise RuntimeError("the package ships no migrations")
    return head
