# Sentence vectors become int8 codes with a float32 scale: 388 bytes instead of 1,544 (0005 takes them to 4 bits).
# Existing rows are encoded in place, then the table is rewritten: PostgreSQL's DROP COLUMN leaves the old
# vectors in every row, and the UPDATE leaves a dead copy of each (CLUSTER holds an exclusive lock on the table
# while it copies it, about a second per 100k sentences). Going back deletes the rows, and the guard re-embeds a
# chunk's sentences the first time it needs them (services.chunk_sentence_vectors).

from django.db import migrations, models

BATCH = 2000


def int8_encode(vector) -> bytes:
    """The int8 form of this migration's time, spelt out: qa.sentence_codec has moved on (0005 reads this form)."""
    import numpy as np

    peak = float(np.abs(vector).max(initial=0.0))
    scale = np.float32(peak / 127) if peak else np.float32(1.0)
    codes = np.clip(np.rint(vector / scale), -127, 127).astype(np.int8)
    return np.asarray(scale, dtype="<f4").tobytes() + codes.tobytes()


def codes_from_vectors(apps, schema_editor):
    import numpy as np

    ChunkSentence = apps.get_model("qa", "ChunkSentence")
    batch = []
    for row in ChunkSentence.objects.only("id", "embedding").iterator(chunk_size=BATCH):
        row.codes = int8_encode(np.asarray(row.embedding, dtype=np.float32))
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
