"""Many rows into one table at once: PostgreSQL's COPY (the fastest way in, no
SQL to parse per row), an executemany elsewhere (SQLite)."""
import io


def _csv_field(value):
    # CSV as COPY reads it: an unquoted empty field is NULL, a quoted one is text
    if value is None:
        return ""
    if isinstance(value, (bool, int, float)):
        return str(value)
    return '"' + str(value).replace('"', '""') + '"'


def copy_rows(conn, table, columns, rows):
    """Inserts rows (tuples in the order of columns) into table in the connection's
    transaction."""
    if not rows:
        return
    if conn.dialect.name != "postgresql":
        conn.execute(table.insert(), [dict(zip(columns, row)) for row in rows])
        return
    buf = io.StringIO()
    buf.writelines(",".join(map(_csv_field, row)) + "\n" for row in rows)
    buf.seek(0)
    cursor = conn.connection.cursor()
    try:
        cursor.copy_expert(f"COPY {table.name} ({', '.join(columns)}) FROM STDIN WITH (FORMAT csv)", buf)
    finally:
        cursor.close()
