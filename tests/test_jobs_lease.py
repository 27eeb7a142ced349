"""A RUNNING job whose worker died goes back to the queue; one whose worker holds its lease stays; after
JOBS_MAX_ATTEMPTS dead workers it fails, and a document's ingest then shows failed."""

import threading

import pytest
from django_tasks_db.models import DBTaskResult, get_date_max

from ragsite.jobs.lease import Lease, orphans_requeue, worker_id_new, worker_pid
from qa.models import Document
from tests.servers import wait_until

pytestmark = pytest.mark.django_db


def running_job(*, worker_ids: list[str], document: Document | None = None) -> DBTaskResult:
    kwargs = {"document_id": document.pk if document else 0, "ingest_seq": document.ingest_seq if document else 0,
              "title": "t", "content": "c", "source": ""}
    return DBTaskResult.objects.create(
        status="RUNNING", args_kwargs={"args": [], "kwargs": kwargs}, task_path="qa.tasks.document_embed",
        backend_name="default", run_after=get_date_max(), worker_ids=worker_ids,
    )


def test_it_requeues_a_running_job_whose_worker_is_gone():
    job = running_job(worker_ids=[worker_id_new()])

    assert orphans_requeue() == 1
    job.refresh_from_db()
    assert job.status == "READY"


def test_it_leaves_a_running_job_whose_worker_holds_its_lease():
    lease = Lease(worker_id_new())
    lease.take()
    try:
        job = running_job(worker_ids=[lease.worker_id])

        assert orphans_requeue() == 0
        job.refresh_from_db()
        assert job.status == "RUNNING"
    finally:
        lease.release()


def test_it_fails_a_job_whose_workers_died_too_often_and_the_document_says_so(settings):
    settings.JOBS_MAX_ATTEMPTS = 2
    document = Document.objects.create(slug="d", title="D", content="c", status="pending", ingest_seq=1)
    job = running_job(worker_ids=[worker_id_new(), worker_id_new()], document=document)

    orphans_requeue()

    job.refresh_from_db()
    document.refresh_from_db()
    assert job.status == "FAILED" and "WorkerLost" in job.exception_class_path
    assert document.status == "failed" and "2 workers died running this job" in document.status_error


def test_it_names_the_worker_process_in_its_id():
    assert worker_pid(worker_id_new()) is not None and worker_pid("someone-else") is None


def test_it_renews_its_lease_from_the_watch_thread_on_a_new_connection_after_losing_it():
    from ragsite.jobs.lease import _worker_gone

    lease = Lease(worker_id_new())
    lease.take()
    try:
        lease._connection.connection.close()  # what a database restart looks like from the worker
        wait_until(lambda: _worker_gone(lease.worker_id), seconds=10, what="the server to drop the lost session's lock")
        renewing = threading.Thread(target=lease.renew)
        renewing.start()
        renewing.join()

        assert not _worker_gone(lease.worker_id)
    finally:
        lease.release()
