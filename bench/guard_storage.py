"""The semantic guard's storage per chunk: its sentence rows (heap, TOAST and indexes, as PostgreSQL allocates
them) beside the chunk's own vector. #11 asks for at most twice the chunk's vector."""

from django.db import connection

from qa.models import Chunk, ChunkSentence


def guard_storage() -> dict:
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT pg_total_relation_size(%s), (SELECT count(*) FROM {ChunkSentence._meta.db_table}), "
            f"count(*), coalesce(avg(pg_column_size(embedding)), 0) FROM {Chunk._meta.db_table}",
            [ChunkSentence._meta.db_table],
        )
        total, sentences, chunks, vector = cursor.fetchone()
    per_chunk = total / chunks if chunks else None
    return {
        "chunks": chunks, "sentences": sentences, "sentence_table_bytes": total,
        "guard_bytes_per_chunk": round(per_chunk) if per_chunk else None, "chunk_vector_bytes": round(float(vector)),
        "guard_over_chunk_vector": round(per_chunk / float(vector), 2) if per_chunk and vector else None,
    }
