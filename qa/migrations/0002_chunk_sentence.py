# Existing chunks get no rows here: the semantic guard embeds and stores a chunk's sentences the
# first time it meets a chunk without them, so old data heals itself without a backfill.

import django.db.models.deletion
import pgvector.django
from django.conf import settings
from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ("qa", "0001_initial"),
    ]

    operations = [
        migrations.CreateModel(
            name="ChunkSentence",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("ordinal", models.PositiveIntegerField()),
                ("embedding", pgvector.django.VectorField(dimensions=settings.EMBEDDING_DIMENSIONS)),
                (
                    "chunk",
                    models.ForeignKey(
                        db_index=False,
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="sentences",
                        to="qa.chunk",
                    ),
                ),
            ],
            options={
                "constraints": [models.UniqueConstraint(fields=("chunk", "ordinal"), name="chunk_sentence_chunk_ordinal")],
            },
        ),
    ]
