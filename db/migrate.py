"""Apply the Alembic migrations programmatically (no alembic.ini to find)."""
from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config

from db.engine import database_url, normalize_url

MIGRATIONS = Path(__file__).resolve().parent / "migrations"


def alembic_config(url: str | None = None) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    # configparser treats % as interpolation.
    config.set_main_option("sqlalchemy.url", normalize_url(url or database_url()).replace("%", "%%"))
    return config


def upgrade(url: str | None = None) -> None:
    """Bring the database to the newest revision. Call from synchronous code (it runs its own loop)."""
    command.upgrade(alembic_config(url), "head")
