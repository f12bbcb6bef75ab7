"""The dock's database: models, engine set-up and migrations run at start."""

from dock.db.database import (
    DB_FILE_NAME,
    Database,
    DatabaseError,
    make_engine,
    migrate,
    open_database,
)

__all__ = ["DB_FILE_NAME", "Database", "DatabaseError", "make_engine", "migrate", "open_database"]
