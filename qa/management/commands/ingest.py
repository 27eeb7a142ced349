import os
import sys
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError
from django.db.models import Q
from django.utils.text import slugify
from tqdm import tqdm

from qa.models import Chunk, Document
from qa.providers import embedder, local_embedder
from qa.samples import SAMPLE_SOURCE, sample_documents
from qa.services import document_delete, document_ingest
from qa.textextract import SUPPORTED_SUFFIXES, text_extract

Job = tuple[str, Callable[[], dict]]  # a label for messages, and the document_ingest arguments


def files_under(root: Path) -> list[Path]:
    if root.is_file():
        return [root]
    return sorted(p for p in root.rglob("*") if p.is_file() and p.suffix.lower() in SUPPORTED_SUFFIXES)


def file_slug(path: Path, *, root: Path) -> str:
    """"guides/getting-started.md" under the folder given becomes "guides-getting-started"."""
    relative = path.relative_to(root) if root.is_dir() else Path(path.name)
    return slugify("-".join(relative.with_suffix("").parts))[:200]


def _file_job(path: Path, root: Path) -> Job:
    def load() -> dict:
        extracted = text_extract(path=path)
        return {"slug": file_slug(path, root=root), "title": extracted.title, "content": extracted.text, "source": str(path)}

    return str(path), load


def _sample_jobs() -> Iterator[Job]:
    for sample in sample_documents():
        args = {"slug": sample.slug, "title": sample.title, "content": sample.content, "source": SAMPLE_SOURCE}
        yield f"sample {sample.slug}", lambda args=args: args


def _sources_under(roots: list[Path]) -> Q:
    under = Q(pk__in=[])
    for root in roots:
        under |= Q(source=str(root)) | Q(source__startswith=str(root) + os.sep)
    return under


class Command(BaseCommand):
    help = "Load .md/.txt/.rst/.html files or folders (and/or the sample KB); unchanged documents are skipped."

    def add_arguments(self, parser):
        parser.add_argument("paths", nargs="*", type=Path, metavar="PATH")
        parser.add_argument("--sample", action="store_true", help="Also load the bundled sample (Python's reference topics).")
        parser.add_argument("--prune", action="store_true", help="Delete documents whose source file under PATH is gone.")

    def handle(self, *args, paths, sample, prune, verbosity, **options):
        if not paths and not sample:
            raise CommandError("Give one or more PATHs, or --sample.")
        roots = [path.resolve() for path in paths]
        # A mistyped path must not look like a folder whose files all vanished (--prune would empty it).
        if missing := [str(root) for root in roots if not root.exists()]:
            raise CommandError(f"No such file or directory: {', '.join(missing)}")
        files = {path: root for root in roots for path in files_under(root)}
        jobs = [*(_sample_jobs() if sample else ()), *(_file_job(path, root) for path, root in files.items())]
        embedder().use_all_cores()
        local_embedder().use_all_cores()  # the sentences' model (the same one, unless the embedder is an API)
        counts, slugs = self._ingest(jobs, progress=verbosity > 0)
        if prune:
            counts["pruned"] = self._prune(roots, keep={str(path) for path in files})
        if verbosity > 0:
            chunks = Chunk.objects.filter(document__slug__in=slugs).count()
            self.stdout.write(
                f"Done: {counts['created']} created, {counts['updated']} updated, {counts['unchanged']} unchanged, "
                f"{counts['pruned']} pruned, {counts['failed']} failed ({chunks} chunks)"
            )

    def _ingest(self, jobs: list[Job], *, progress: bool) -> tuple[Counter, list[str]]:
        counts: Counter = Counter()
        slugs = []
        for label, load in tqdm(jobs, disable=not progress, unit="doc", file=sys.stderr, leave=False):
            # One bad file (undecodable, empty, a provider hiccup) must not stop the others.
            try:
                document, status = document_ingest(**load())
            except Exception as exc:
                counts["failed"] += 1
                self.stderr.write(f"Failed {label}: {exc}")
                continue
            counts[status] += 1
            slugs.append(document.slug)
        return counts, slugs

    def _prune(self, roots: list[Path], *, keep: set[str]) -> int:
        gone = list(Document.objects.filter(_sources_under(roots)).exclude(source__in=keep))
        for document in gone:
            document_delete(document=document)
        return len(gone)
