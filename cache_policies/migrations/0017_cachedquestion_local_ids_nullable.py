# The MiniLM columns stay empty (NULL) unless the embedder is an API; NOT NULL broke raw writers such as the
# bench's synthetic COPY into the semantic index.

import django.contrib.postgres.fields
from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('cache_policies', '0016_cachedquestion_local'),
    ]

    operations = [
        migrations.AlterField(
            model_name='cachedquestion',
            name='local_chunk_ids',
            field=django.contrib.postgres.fields.ArrayField(base_field=models.BigIntegerField(), blank=True, null=True, size=None),
        ),
        migrations.AlterField(
            model_name='cachedquestion',
            name='local_document_ids',
            field=django.contrib.postgres.fields.ArrayField(base_field=models.BigIntegerField(), blank=True, null=True, size=None),
        ),
    ]
