"""Checkpoints of LangGraph Server runs in PostgreSQL: the ``checkpointer`` that ``langgraph.postgres.json``
names, so ``langgraph dev`` (and an image built from that file) keeps every node of its threads in the
database ``DSR_CHECKPOINTS`` names, with langgraph-checkpoint-postgres's own tables: the ones ``dsr write
--checkpoints`` uses. LangGraph Server's licensed image brings its own Postgres persistence (``DATABASE_URI``);
this is for the server without it, and for sharing one database with CLI runs.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from dsr.run.checkpoints import ENV, is_postgres, redact


@asynccontextmanager
async def checkpointer() -> AsyncIterator[Any]:
    """An ``AsyncPostgresSaver`` on a connection pool, tables created, for the server's lifetime."""
    import psycopg
    from langgraph.checkpoint.postgres.aio import AsyncPostgresSaver
    from psycopg.rows import DictRow, dict_row
    from psycopg_pool import AsyncConnectionPool

    address = os.environ.get(ENV, "").strip()
    if not is_postgres(address):
        raise RuntimeError(
            f"{ENV} must name the PostgreSQL database for the server's checkpoints (postgresql://...)"
        )
    try:  # one plain connection first: its error says why (refused, authentication, no database)
        conn = await psycopg.AsyncConnection.connect(address, connect_timeout=10)
        await conn.close()
    except psycopg.Error as exc:
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise RuntimeError(f"checkpoint database {redact(address)} is unreachable ({reason})") from None
    pool = AsyncConnectionPool(
        address,
        connection_class=psycopg.AsyncConnection[DictRow],  # the pool's rows as the saver reads them: dicts
        min_size=1,
        max_size=16,
        open=False,
        kwargs={"autocommit": True, "prepare_threshold": 0, "row_factory": dict_row},
    )
    await pool.open(wait=True, timeout=30)
    try:
        saver = AsyncPostgresSaver(pool)
        await saver.setup()
        yield saver
    finally:
        await pool.close()
