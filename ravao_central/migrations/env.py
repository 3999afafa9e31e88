"""Alembic's entry: ``ravao central init`` runs the migrations on the
connection it opened (config.attributes["connection"]); nothing here reads
alembic.ini or a URL."""

from __future__ import annotations

from alembic import context

from ravao_central.schema import metadata

connection = context.config.attributes["connection"]
context.configure(connection=connection, target_metadata=metadata, render_as_batch=connection.dialect.name == "sqlite")
with context.begin_transaction():
    context.run_migrations()
