"""Per-host upload tokens: made at random, shown once, kept only as a SHA-256."""
import datetime
import hashlib
import secrets

import sqlalchemy as sa

from .database import writer
from .schema import hosts, tokens

PREFIX = "pynvme-lab-"


def token_hash(token):
    # a token carries 256 random bits: a plain digest cannot be searched backwards
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def utcnow():
    return datetime.datetime.now(datetime.timezone.utc).replace(tzinfo=None)


def host_id(conn, name, create=True):
    """The id of the host called `name`, added when missing (create)."""
    row = conn.execute(sa.select(hosts.c.id).where(hosts.c.name == name)).first()
    if row:
        return row.id
    if not create:
        return None
    return conn.execute(hosts.insert().values(name=name, created=utcnow())).inserted_primary_key[0]


def add_token(engine, host):
    """A new token for `host` (the host is added when new); returns the token, which
    is stored nowhere but in its hashed form."""
    token = PREFIX + secrets.token_urlsafe(32)
    with writer(engine).begin() as conn:
        hid = host_id(conn, host)
        conn.execute(tokens.insert().values(host_id=hid, token_hash=token_hash(token),
                                            created=utcnow()))
    return token


def host_of_token(conn, token):
    """The host the token belongs to (a row: id, name), or None."""
    return conn.execute(sa.select(hosts.c.id, hosts.c.name).select_from(tokens.join(hosts))
                        .where(tokens.c.token_hash == token_hash(token))).first()
