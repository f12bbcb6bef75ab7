"""Alembic environment for the registry: runs on the connection registry.db.migrate hands over."""

from alembic import context

from registry.models import Base

connection = context.config.attributes.get("connection")
if connection is None:
    raise RuntimeError("run migrations through registry.db.migrate(engine), not the alembic CLI")

context.configure(
    connection=connection,
    target_metadata=Base.metadata,
    render_as_batch=connection.dialect.name == "sqlite",
    version_table="registry_alembic_version",
)
with context.begin_transaction():
    context.run_migrations()
