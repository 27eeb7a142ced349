# Sentence vectors become int8 codes with a float32 scale (qa/sentence_codec.py): 388 bytes instead of 1,544.
# Existing rows are encoded in place, then the table is rewritten: PostgreSQL's DROP COLUMN leaves the old
# vectors in every row, and the UPDATE leaves a dead copy of each (CLUSTER holds an exclusive lock on the table
# while it copies it, about a second per 100k sentences). Going back deletes the rows, and the guard re-embeds a
# chunk's sentences the first time it needs them (services.chunk_sentence_vectors).

from django.db import migrations, models

BATCH = 2000


def codes_from_vectors(apps, schema_editor):
    import numpy as np

    from qa.sentence_codec import sentence_encode

    ChunkSentence = apps.get_model("qa", "ChunkSentence")
    batch = []
    for row in ChunkSentence.objects.only("id", "embedding").iterator(chunk_size=BATCH):
        row.codes = sentence_encode(vector=np.asarray(row.embedding, dtype=np.float32))
        batch.append(row)
        if len(batch) == BATCH:
            ChunkSentence.objects.bulk_update(batch, ["codes"])
            batch = []
    ChunkSentence.objects.bulk_update(batch, ["codes"])


def rows_delete(apps, schema_editor):
    apps.get_model("qa", "ChunkSentence").objects.all().delete()


class Migration(migrations.Migration):

    dependencies = [
        ("qa", "0003_document_status"),
    ]

    operations = [
        migrations.AddField(model_name="chunksentence", name="codes", field=models.BinaryField(default=b""),
                            preserve_default=False),
        migrations.RunPython(codes_from_vectors, migrations.RunPython.noop),
        migrations.RemoveField(model_name="chunksentence", name="embedding"),
        migrations.RunSQL("CLUSTER qa_chunksentence USING chunk_sentence_chunk_ordinal", migrations.RunSQL.noop),
        migrations.RunPython(migrations.RunPython.noop, rows_delete),
    ]
