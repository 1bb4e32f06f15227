"""Alembic's environment for the lab database: the connection comes from
nvme.lab.server.migrate (config.attributes["connection"]); no alembic.ini."""
from alembic import context

from nvme.lab.server.schema import metadata

connection = context.config.attributes["connection"]
context.configure(connection=connection, target_metadata=metadata,
                  render_as_batch=connection.dialect.name == "sqlite")
with context.begin_transaction():
    context.run_migrations()
