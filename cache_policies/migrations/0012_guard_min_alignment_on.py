from django.db import migrations, models
import django.core.validators


def alignment_on(apps, schema_editor):
    # 0.30 is the value tuned on the tune half of tests/data/semantic_pairs.jsonl (README, "Word alignment").
    # It shipped off only because loading the local MiniLM inside a worker's first request overflowed the
    # waiting slots under load; workers now load it at start (ragsite/gunicorn.conf.py).
    CachePolicy = apps.get_model("cache_policies", "CachePolicy")
    CachePolicy.objects.filter(layer="semantic", guard_min_alignment=0.0).update(guard_min_alignment=0.30)


class Migration(migrations.Migration):

    dependencies = [
        ("cache_policies", "0011_policy_guard_min_alignment"),
    ]

    operations = [
        migrations.AlterField(
            model_name="cachepolicy",
            name="guard_min_alignment",
            field=models.FloatField(default=0.3, help_text="Semantic layer: how well every content word of each question must be matched by a word of the other, by contextual word vectors (0 disables the word-alignment check).", validators=[django.core.validators.MinValueValidator(0.0), django.core.validators.MaxValueValidator(1.0)]),
        ),
        migrations.RunPython(alignment_on, migrations.RunPython.noop),
    ]
