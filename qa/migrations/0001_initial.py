import django.db.models.deletion
import pgvector.django
from django.conf import settings
from django.db import migrations, models
from pgvector.django import VectorExtension

DEFAULT_PROMPT = (
    "Answer the question using only the context below. Cite sources as [n]. "
    "If the context does not contain the answer, say you don't know.\n\n"
    "Context:\n{context}\n\nQuestion: {question}"
)


def create_default_prompt(apps, schema_editor):
    PromptTemplate = apps.get_model("qa", "PromptTemplate")
    PromptTemplate.objects.get_or_create(name="default", defaults={"text": DEFAULT_PROMPT, "is_active": True})


class Migration(migrations.Migration):
    initial = True
    dependencies = []

    operations = [
        VectorExtension(),
        migrations.CreateModel(
            name="Document",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("title", models.CharField(max_length=300)),
                ("slug", models.SlugField(max_length=200, unique=True)),
                ("source", models.CharField(blank=True, help_text="Where the text came from: a path or URL.", max_length=500)),
                ("content", models.TextField()),
                ("content_hash", models.CharField(help_text="sha256 of the content; unchanged content is not re-embedded.", max_length=64)),
                ("version", models.PositiveIntegerField(default=1, help_text="Bumped each time the content changes.")),
                ("updated_at", models.DateTimeField(auto_now=True)),
            ],
            options={"ordering": ["slug"]},
        ),
        migrations.CreateModel(
            name="PromptTemplate",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("name", models.SlugField(max_length=100, unique=True)),
                ("text", models.TextField(help_text="Instructions for the LLM. {context} is replaced by the retrieved chunks, {question} by the question.")),
                ("version", models.PositiveIntegerField(default=1, editable=False, help_text="Bumped on every edit of the text.")),
                ("is_active", models.BooleanField(default=False, help_text="The template the openai provider uses.")),
                ("updated_at", models.DateTimeField(auto_now=True)),
            ],
        ),
        migrations.CreateModel(
            name="Chunk",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("ordinal", models.PositiveIntegerField()),
                ("text", models.TextField()),
                ("embedding", pgvector.django.VectorField(dimensions=settings.EMBEDDING_DIMENSIONS)),
                ("document", models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name="chunks", to="qa.document")),
            ],
            options={
                "ordering": ["document_id", "ordinal"],
                "indexes": [pgvector.django.HnswIndex(ef_construction=64, fields=["embedding"], m=16, name="chunk_embedding_hnsw", opclasses=["vector_cosine_ops"])],
                "constraints": [models.UniqueConstraint(fields=("document", "ordinal"), name="chunk_document_ordinal")],
            },
        ),
        migrations.RunPython(create_default_prompt, migrations.RunPython.noop),
    ]
