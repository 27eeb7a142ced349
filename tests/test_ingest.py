from io import StringIO

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from pydoc_data.topics import topics

from qa.models import Chunk, Document


def ingest(*args) -> tuple[str, str]:
    out, err = StringIO(), StringIO()
    call_command("ingest", *map(str, args), stdout=out, stderr=err)
    return out.getvalue().strip(), err.getvalue().strip()


@pytest.fixture
def kb(tmp_path):
    """A folder with one file of each kind, one in a subfolder."""
    (tmp_path / "guides").mkdir()
    (tmp_path / "guides" / "caching.md").write_text("# Caching\n\nRedis keeps answers. Stale ones are purged.\n")
    (tmp_path / "notes.txt").write_text("Plain notes about pgvector. It stores embeddings.\n")
    (tmp_path / "intro.rst").write_text("Intro\n=====\n\nThe site answers questions.\n")
    (tmp_path / "page.html").write_text("<title>Page</title><p>HNSW indexes are fast.</p>")
    (tmp_path / "image.png").write_bytes(b"\x89PNG")
    return tmp_path


@pytest.mark.django_db
def test_it_ingests_a_folder_into_documents_with_embedded_chunks(kb):
    out, err = ingest(kb)

    assert out == "Done: 4 created, 0 updated, 0 unchanged, 0 pruned, 0 failed (4 chunks)"
    assert err == ""
    assert sorted(Document.objects.values_list("slug", "title")) == [
        ("guides-caching", "Caching"),
        ("intro", "Intro"),
        ("notes", "Notes"),
        ("page", "Page"),
    ]
    chunk = Chunk.objects.get(document__slug="notes")
    assert chunk.text == "Plain notes about pgvector. It stores embeddings."
    assert len(chunk.embedding) == 384
    assert Document.objects.get(slug="notes").source == str(kb / "notes.txt")


@pytest.mark.django_db
def test_it_skips_everything_on_a_second_run(kb):
    ingest(kb)
    versions = dict(Document.objects.values_list("slug", "version"))
    chunk_ids = set(Chunk.objects.values_list("id", flat=True))

    out, _ = ingest(kb)

    assert out == "Done: 0 created, 0 updated, 4 unchanged, 0 pruned, 0 failed (4 chunks)"
    assert dict(Document.objects.values_list("slug", "version")) == versions
    assert set(Chunk.objects.values_list("id", flat=True)) == chunk_ids


@pytest.mark.django_db
def test_it_reembeds_a_changed_file_and_bumps_its_version(kb):
    ingest(kb)
    old_chunk = Chunk.objects.get(document__slug="notes")
    (kb / "notes.txt").write_text("Plain notes about Valkey. It is a Redis fork.\n")

    out, _ = ingest(kb)

    document = Document.objects.get(slug="notes")
    new_chunk = document.chunks.get()
    assert out == "Done: 0 created, 1 updated, 3 unchanged, 0 pruned, 0 failed (4 chunks)"
    assert document.version == 2
    assert new_chunk.text == "Plain notes about Valkey. It is a Redis fork."
    assert new_chunk.id != old_chunk.id
    assert not Chunk.objects.filter(id=old_chunk.id).exists()
    assert list(new_chunk.embedding) != list(old_chunk.embedding)


@pytest.mark.django_db
def test_it_prunes_only_vanished_files_under_the_given_paths(kb, tmp_path_factory):
    elsewhere = tmp_path_factory.mktemp("elsewhere")
    (elsewhere / "other.md").write_text("# Other\n\nKept, because it is not under the path pruned.\n")
    ingest(kb, elsewhere)
    (kb / "page.html").unlink()
    (elsewhere / "other.md").unlink()

    out, _ = ingest("--prune", kb)

    assert out == "Done: 0 created, 0 updated, 3 unchanged, 1 pruned, 0 failed (3 chunks)"
    assert not Document.objects.filter(slug="page").exists()
    assert Document.objects.filter(slug="other").exists()


@pytest.mark.django_db
def test_it_reports_a_failing_file_and_ingests_the_rest(kb):
    (kb / "broken.txt").write_bytes(b"caf\xe9 is not UTF-8")
    (kb / "empty.md").write_text("   \n")

    out, err = ingest(kb)

    assert out == "Done: 4 created, 0 updated, 0 unchanged, 0 pruned, 2 failed (4 chunks)"
    assert f"Failed {kb / 'broken.txt'}: 'utf-8' codec can't decode" in err
    assert f"Failed {kb / 'empty.md'}: ['content is empty']" in err


@pytest.mark.django_db
def test_it_refuses_a_path_that_does_not_exist(tmp_path):
    with pytest.raises(CommandError, match="No such file or directory: .*missing"):
        ingest("--prune", tmp_path / "missing")


@pytest.mark.django_db
def test_it_is_silent_at_verbosity_zero(kb):
    out, err = StringIO(), StringIO()

    call_command("ingest", str(kb), verbosity=0, stdout=out, stderr=err)

    assert (out.getvalue(), err.getvalue()) == ("", "")
    assert Document.objects.count() == 4


@pytest.mark.django_db
def test_it_loads_the_sample_knowledge_base_with_topic_keys_as_slugs():
    out, _ = ingest("--sample")

    assert set(Document.objects.values_list("slug", flat=True)) == set(topics)
    assert Document.objects.count() == 79
    assert Document.objects.get(slug="with").title == 'The "with" statement'
    assert Document.objects.get(slug="atom-identifiers").content == topics["atom-identifiers"].strip()
    assert out.startswith("Done: 79 created, 0 updated, 0 unchanged, 0 pruned, 0 failed")
    assert f"({Chunk.objects.count()} chunks)" in out


@pytest.mark.django_db
def test_it_embeds_on_every_core_while_a_web_worker_keeps_one(kb):
    import os

    import torch

    from qa.providers import embedder, reset

    reset()  # an earlier ingest in this process left the shared embedder on every core
    embedder().embed(["a web worker's first question"])  # loaded as a web worker is, with TORCH_THREADS=1
    assert torch.get_num_threads() == 1
    try:
        ingest(kb)

        assert torch.get_num_threads() == len(os.sched_getaffinity(0))
    finally:
        torch.set_num_threads(1)
        reset()
