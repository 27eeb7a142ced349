# Sentence vectors go from int8 to 4-bit codes (qa/sentence_codec.py): 196 bytes a 384-d sentence instead of 388,
# so the guard's storage per chunk falls under twice the chunk's own vector (#11). Existing rows are decoded from
# their int8 form (spelt out here: the codec no longer reads it) and encoded again, then the table is rewritten
# so the old values' dead copies are not kept. Going back deletes the rows, and the guard re-embeds a
# chunk's sentences the first time it needs them (services.chunk_sentence_vectors).

from django.db import migrations

BATCH = 2000
INT8_SCALE_BYTES = 4


def int8_decode(codes: bytes):
    import numpy as np

    scale = np.frombuffer(codes[:INT8_SCALE_BYTES], dtype="<f4")[0]
    return np.frombuffer(codes[INT8_SCALE_BYTES:], dtype=np.int8).astype(np.float32) * scale


def codes_reencode(apps, schema_editor):
    from itertools import islice

    from qa.sentence_codec import sentence_encode

    ChunkSentence = apps.get_model("qa", "ChunkSentence")
    rows = ChunkSentence.objects.only("id", "codes").iterator(chunk_size=BATCH)
    while batch := list(islice(rows, BATCH)):
        for row in batch:
            row.codes = sentence_encode(vector=int8_decode(bytes(row.codes)))
        ChunkSentence.objects.bulk_update(batch, ["codes"])


def rows_delete(apps, schema_editor):
    apps.get_model("qa", "ChunkSentence").objects.all().delete()


class Migration(migrations.Migration):
    # The re-encoding commits (as one transaction) before CLUSTER runs: inside the same transaction CLUSTER would
    # have to copy the old row versions too, since the update that replaced them had not committed.
    atomic = False

    dependencies = [
        ("qa", "0004_chunk_sentence_int8"),
    ]

    operations = [
        migrations.RunPython(codes_reencode, rows_delete, atomic=True),
        migrations.RunSQL("CLUSTER qa_chunksentence USING chunk_sentence_chunk_ordinal", migrations.RunSQL.noop),
    ]
