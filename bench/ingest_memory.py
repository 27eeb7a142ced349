"""The job worker's memory around a large document's ingest: its RSS before, at peak and after, from /proc.

A real `manage.py jobs_worker` on a queue of its own (a `make run` worker never takes these jobs) and the
local MiniLM. A small document first loads the model, so the baseline is a warm worker's; then a document
just under DOCUMENT_MAX_CHARS made of the sample topics. Peak is the kernel's VmHWM, reset before the
large job (clear_refs 5) and also sampled every 50 ms. Both documents are deleted at the end.
"""

import subprocess
import time
from pathlib import Path

from django.conf import settings

from ragsite.jobs.process import STOP_TIMEOUT, worker_command, worker_env
from qa.models import Document, DocumentStatus
from qa.samples import sample_documents
from qa.services import document_delete, document_submit

QUEUE = "bench-ingest"
SLUGS = ("rag-bench-large-1", "rag-bench-large-2")
WARM_UP_SLUG = "rag-bench-warm-up"
JOB_TIMEOUT = 900.0


def _status_kb(pid: int) -> dict[str, int]:
    lines = Path(f"/proc/{pid}/status").read_text().splitlines()
    return {k: int(v.split()[0]) for k, v in (line.split(":", 1) for line in lines) if k in ("VmRSS", "VmHWM")}


def _peak_reset(pid: int) -> bool:
    try:
        Path(f"/proc/{pid}/clear_refs").write_text("5")
        return True
    except OSError:  # an older kernel or no permission: the sampled peak stands alone
        return False


def large_content(chars: int) -> str:
    """Sample topics joined until just under chars: real prose, so chunks and sentences are as in production."""
    parts, length = [], 0
    for document in sample_documents():
        if length + len(document.content) + 2 > chars:
            continue
        parts.append(document.content)
        length += len(document.content) + 2
    return "\n\n".join(parts)


def _ingest(slug: str, content: str, *, pid: int, samples: list[int]) -> float:
    started = time.monotonic()
    document_submit(slug=slug, title=slug, content=content, queue=QUEUE)
    while time.monotonic() - started < JOB_TIMEOUT:
        samples.append(_status_kb(pid)["VmRSS"])
        status = Document.objects.filter(slug=slug).values_list("status", flat=True).first()
        if status != DocumentStatus.PENDING:
            if status != DocumentStatus.READY:
                raise RuntimeError(f"{slug}: {Document.objects.get(slug=slug).status_error}")
            return time.monotonic() - started
        time.sleep(0.05)
    raise TimeoutError(f"{slug} still pending after {JOB_TIMEOUT}s")


def ingest_memory_run(*, log=print) -> dict:
    content = large_content(settings.DOCUMENT_MAX_CHARS - 1000)
    worker = subprocess.Popen(worker_command("--queue-name", QUEUE, "--interval", "0.1", "-v", "0"), env=worker_env())
    try:
        samples: list[int] = []
        log("ingest memory: warming the worker up with a small document")
        _ingest(WARM_UP_SLUG, "A small document loads the embedding model.", pid=worker.pid, samples=samples)
        time.sleep(1)
        baseline = _status_kb(worker.pid)["VmRSS"]
        reset = _peak_reset(worker.pid)
        samples.clear()
        log(f"ingest memory: {len(content):,} characters in the background")
        seconds = _ingest(SLUGS[0], content, pid=worker.pid, samples=samples)
        at_ready = _status_kb(worker.pid)
        time.sleep(2)
        settled = _status_kb(worker.pid)["VmRSS"]
        chunks = Document.objects.get(slug=SLUGS[0]).chunks.count()
        log("ingest memory: the same size again, to tell a plateau from a leak")
        _ingest(SLUGS[1], content + " Again.", pid=worker.pid, samples=[])
        time.sleep(2)
        second = _status_kb(worker.pid)["VmRSS"]
    finally:
        worker.terminate()
        worker.wait(timeout=STOP_TIMEOUT)
        for slug in (*SLUGS, WARM_UP_SLUG):
            if document := Document.objects.filter(slug=slug).first():
                document_delete(document=document)
    peak = max(at_ready["VmHWM"] if reset else 0, *samples)
    return {
        "characters": len(content), "chunks": chunks, "job_seconds": round(seconds, 1),
        "rss_mb": {
            "baseline": _mb(baseline), "peak": _mb(peak), "at_ready": _mb(at_ready["VmRSS"]),
            "after": _mb(settled), "after_second": _mb(second),
        },
        "retained_mb": _mb(settled - baseline), "retained_by_second_mb": _mb(second - settled),
    }


def _mb(kb: int) -> float:
    return round(kb / 1024, 1)
