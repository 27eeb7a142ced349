"""A psycopg cursor on Django's connection that sends numpy vectors to pgvector in binary.

A 384-d vector as text is ~3.5 kB of decimals that Python prints and PostgreSQL parses on every
lookup; pgvector's binary form is 1.5 kB copied as is (uint16 dimensions, uint16 unused, big-endian
float32s). The cursor binds parameters on the server (psycopg's `Cursor`, not Django's `ClientCursor`,
which would inline them as text), and pass a vector with a `%b` placeholder.
"""

from collections.abc import Iterator
from contextlib import contextmanager
from functools import cache
from weakref import WeakKeyDictionary

import numpy as np
import psycopg
from django.db import connection
from pgvector.psycopg.vector import VectorBinaryDumper
from psycopg.types import TypeInfo

# The vector type's oid differs between databases (the test database creates its own extension), so it
# is looked up once per physical connection rather than once per process.
_vector_types: WeakKeyDictionary[psycopg.Connection, TypeInfo] = WeakKeyDictionary()


def _vector_type(raw: psycopg.Connection) -> TypeInfo:
    if raw not in _vector_types:
        info = TypeInfo.fetch(raw, "vector")
        if info is None:
            raise psycopg.ProgrammingError("the vector type is not installed in this database")
        _vector_types[raw] = info
    return _vector_types[raw]


@cache
def _binary_dumper(oid: int) -> type[VectorBinaryDumper]:
    # pgvector's dumper with the database's oid, as its register_vector_info makes it, but made once per oid:
    # that function also builds two classes and registers text dumpers, loaders and the array types, on every
    # cursor it is given, which cost 0.1 ms a lookup for adapters a lookup never uses.
    return type("VectorBinaryDumper", (VectorBinaryDumper,), {"oid": oid})


@contextmanager
def server_cursor() -> Iterator[psycopg.Cursor]:
    """A psycopg cursor on Django's connection that binds parameters on the server (and may read results in
    binary); errors come out as Django's (DatabaseError and kin), as from `connection.cursor()`."""
    connection.ensure_connection()
    with connection.wrap_database_errors, psycopg.Cursor(connection.connection) as cursor:
        yield cursor


@contextmanager
def binary_cursor() -> Iterator[psycopg.Cursor]:
    """A server_cursor with numpy arrays dumped as pgvector binary."""
    with server_cursor() as cursor:
        # On the cursor only: Django's own cursors keep sending and reading vectors as text.
        cursor.adapters.register_dumper(np.ndarray, _binary_dumper(_vector_type(cursor.connection).oid))
        yield cursor
