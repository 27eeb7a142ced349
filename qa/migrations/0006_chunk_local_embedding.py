# Semantic decisions move to MiniLM's space whatever the embedder (qa/local_space.py). With an API embedder,
# the chunks get MiniLM vectors beside the API's, and the sentence vectors, stored in the API's space until now,
# are dropped: a chunk's sentences are stored again, by MiniLM, the first time the guard needs them
# (services.chunk_sentence_vectors). With MiniLM as the embedder nothing changes.

import pgvector.django.indexes
import pgvector.django.vector
from django.conf import settings
from django.db import migrations

BATCH = 256


def local_vectors_add(apps, schema_editor):
    if settings.EMBEDDING_PROVIDER == "local":
        return
    from qa.providers import local_embedder

    Chunk, ChunkSentence = apps.get_model("qa", "Chunk"), apps.get_model("qa", "ChunkSentence")
    ChunkSentence.objects.all().delete()
    chunks = list(Chunk.objects.filter(local_embedding__isnull=True).only("id", "text"))
    for start in range(0, len(chunks), BATCH):
        batch = chunks[start : start + BATCH]
        for chunk, vector in zip(batch, local_embedder().embed([c.text for c in batch])):
            chunk.local_embedding = vector
        Chunk.objects.bulk_update(batch, ["local_embedding"])


class Migration(migrations.Migration):

    dependencies = [
        ('qa', '0005_chunk_sentence_int4'),
    ]

    operations = [
        migrations.AddField(
            model_name='chunk',
            name='local_embedding',
            field=pgvector.django.vector.VectorField(blank=True, dimensions=384, null=True),
        ),
        migrations.AddIndex(
            model_name='chunk',
            index=pgvector.django.indexes.HnswIndex(ef_construction=64, fields=['local_embedding'], m=16, name='chunk_local_embedding_hnsw', opclasses=['vector_cosine_ops']),
        ),
        migrations.RunPython(local_vectors_add, migrations.RunPython.noop),
    ]
