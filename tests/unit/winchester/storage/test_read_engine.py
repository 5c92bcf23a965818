"""``connect(..., reads_only=True)``, the API's read engine, on the real servers."""

from __future__ import annotations

import sqlalchemy as sa

from winchester.storage.engine import connect


def test_a_read_on_mariadb_ends_with_no_rollback_sent(mysql_url: str) -> None:
    """A use of a pooled read connection ends without a ``ROLLBACK`` (PyMySQL
    sends one for SQLAlchemy's end-of-use ``rollback()``: a round trip a
    request), and the connection still autocommits: each read sees what
    another connection committed since."""
    reader = connect(mysql_url, reads_only=True)
    writer = connect(mysql_url)
    try:

        def session() -> tuple[int, int]:
            with reader.connect() as conn:
                connection_id = conn.exec_driver_sql("SELECT CONNECTION_ID()").scalar()
                status = conn.exec_driver_sql(
                    "SHOW SESSION STATUS LIKE 'Com_rollback'"
                ).one()
                return int(connection_id), int(status[1])

        first = session()
        for _ in range(4):
            assert session() == first  # the same connection, no ROLLBACK since

        with writer.begin() as conn:
            conn.exec_driver_sql("CREATE TABLE seen (n INT)")
            conn.exec_driver_sql("INSERT INTO seen VALUES (1)")
        count = sa.text("SELECT count(*) FROM seen")
        for expected in (1, 2):
            with reader.connect() as conn:
                assert conn.execute(count).scalar() == expected
            with writer.begin() as conn:
                conn.exec_driver_sql("INSERT INTO seen VALUES (2)")
        assert session() == first
    finally:
        reader.dispose()
        writer.dispose()
