"""The speed layer's reactions to the knowledge base changing, next to the models that change.

The cache knows nothing of documents or templates: these receivers hand it plain data (ids,
template parts, chunk vectors). The change is marked in the cache's ledger inside the transaction (from
its commit on, nothing cached before it is served); the purges in Redis run after it commits.
"""

from functools import partial

from django.db import transaction
from django.db.models.signals import post_delete, post_save

from cache_policies import freshness, invalidation, keys, redis_client
from cache_policies.models import Event
from qa.models import Document, PromptTemplate
from qa.retrieval import document_new_chunks
from qa.selectors import document_chunk_texts


def _on_document_saved(sender, instance, update_fields=None, **kwargs):
    if update_fields and set(update_fields) <= set(Document.STATUS_FIELDS):
        return  # an ingest queued or failed: the chunks, title and content answers were built from are unchanged
    # The chunks are replaced after this save, in the same transaction: what it had before is read now.
    # Only new text can displace another question's answer: an unchanged chunk was there when it was retrieved.
    known = document_chunk_texts(document_id=instance.id)
    _on_document_changed(instance.id, Event.DOCUMENT_CHANGED,
                         chunk_vectors=partial(document_new_chunks, known_texts=known))


def _on_document_deleted(sender, instance, **kwargs):
    _on_document_changed(instance.id, Event.DOCUMENT_DELETED)


def _on_document_changed(document_id: int, event: Event, *, chunk_vectors=document_new_chunks) -> None:
    freshness.subjects_mark(subjects=[freshness.document_subject(document_id)])
    transaction.on_commit(lambda: _warm_after(invalidation.document_invalidate(
        document_id=document_id, event=event, chunk_vectors=chunk_vectors,
    )))


def _warm_after(purge: invalidation.Purge) -> None:
    """The rule's "warm after purge": answer the removed shared answers' questions again, in the background."""
    from qa.warming import questions_warm_later

    questions_warm_later(questions=purge.warm)


def _on_template_saved(sender, instance, **kwargs):
    from qa.pipeline import active_template

    freshness.subjects_mark(subjects=[freshness.TEMPLATE])
    transaction.on_commit(active_template.forget)
    if instance.version > 1:
        old = keys.template_part(name=instance.name, version=instance.version - 1)
        transaction.on_commit(lambda: _warm_after(invalidation.template_invalidate(template_part=old)))


def _on_redis_recovery() -> None:
    invalidation.pending_replay_safely(chunk_vectors=document_new_chunks)


def connect() -> None:
    post_save.connect(_on_document_saved, sender=Document, dispatch_uid="rag-doc-saved")
    post_delete.connect(_on_document_deleted, sender=Document, dispatch_uid="rag-doc-deleted")
    post_save.connect(_on_template_saved, sender=PromptTemplate, dispatch_uid="rag-tpl-saved")
    redis_client.breaker.on_recovery(_on_redis_recovery)
    freshness.ledger.on_mark(freshness.TEMPLATE, _template_forget)


def _template_forget() -> None:
    from qa.pipeline import active_template

    active_template.forget()
