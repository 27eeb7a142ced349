"""The knowledge base's background jobs (django-tasks; the worker is ragsite/jobs/): a document's ingest, and
the warming after a purge (a stale answer's refresh is in qa/stale.py).

Payloads are JSON: the document's id, the write's sequence number and the text to store; the questions to warm.
"""

from django_tasks import TaskResult, TaskResultStatus, task
from django_tasks.signals import task_finished

from qa import services

ERROR_MAX_CHARS = 2000


@task()
def document_embed(*, document_id: int, ingest_seq: int, title: str, content: str, source: str) -> str:
    """Chunk and embed the text, then replace the document's chunks; it raises to fail (see _on_task_finished)."""
    return services.document_job_run(
        document_id=document_id, ingest_seq=ingest_seq, title=title, content=content, source=source,
    )


@task()
def questions_warm_job(*, questions: list[str]) -> str:
    """Warm after purge: answer again the questions whose shared answers a purge removed (qa/warming.py)."""
    from qa.warming import questions_warm

    return questions_warm(questions=questions).summary()


def job_error(task_result: TaskResult) -> str:
    """The failure in one line: the traceback's last (e.g. "ragsite.errors.ProviderError: openai: timed out")."""
    lines = [line for error in task_result.errors for line in error.traceback.strip().splitlines()]
    return (lines[-1] if lines else "the job failed")[:ERROR_MAX_CHARS]


def _on_task_finished(sender, task_result: TaskResult, **kwargs) -> None:
    # One path for every failure: the job raised, or its worker died too often (ragsite/jobs/lease.py).
    if task_result.status != TaskResultStatus.FAILED or task_result.task.func is not document_embed.func:
        return
    services.document_job_failed(
        document_id=task_result.kwargs["document_id"], ingest_seq=task_result.kwargs["ingest_seq"],
        error=job_error(task_result),
    )


def connect() -> None:
    task_finished.connect(_on_task_finished, dispatch_uid="rag-document-embed-finished")
