"""Alembic environment: runs on the connection dock.db.migrate hands over.

No logging set-up here: the dock configures logging once, and fileConfig would replace it.
"""

from alembic import context

from dock.db.models import Base

connection = context.config.attributes.get("connection")
if connection is None:
    raise RuntimeError("run migrations through dock.db.migrate(engine), not the alembic CLI")

context.configure(
    connection=connection,
    target_metadata=Base.metadata,
    render_as_batch=connection.dialect.name == "sqlite",
)
with context.begin_transaction():
    context.run_migrations()
