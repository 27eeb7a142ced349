from pathlib import Path

from django.core.management.base import BaseCommand, CommandError
from tqdm import tqdm

from qa.warming import DEFAULT_PER_SECOND, questions_most_asked, questions_read, questions_warm


class Command(BaseCommand):
    help = ("Answer questions into the shared cache ahead of users (mirrors the admin's Warm the cache page): "
            "the most asked ones, or a file's. Not counted in the stats.")

    def add_arguments(self, parser):
        parser.add_argument("--top", type=int, metavar="N", help="Warm the N most asked questions of the stats.")
        parser.add_argument("--file", type=Path, help="Warm a file's questions: one per line, or JSON lines with a "
                            '"question" field.')
        parser.add_argument("--rate", type=float, default=DEFAULT_PER_SECOND, metavar="PER_SECOND",
                            help=f"At most this many questions per second (default {DEFAULT_PER_SECOND:g}).")

    def handle(self, *args, top=None, file=None, rate, **options):
        if (top is None) == (file is None):
            raise CommandError("give exactly one of --top or --file")
        if rate <= 0:
            raise CommandError("--rate must be a positive number of questions per second")
        if top is not None and top < 1:
            raise CommandError("--top must be at least 1")
        questions = questions_most_asked(limit=top) if top else self._file_questions(file)
        verbosity = options["verbosity"]
        with tqdm(total=len(questions), unit="question", file=self.stderr, disable=verbosity < 1) as bar:
            def each(warmed):
                bar.update(1)
                if verbosity > 1:
                    bar.write(f"{warmed.result:<8} {warmed.question}", file=self.stdout)

            report = questions_warm(questions=questions, per_second=rate, on_each=each)
        if verbosity > 0:
            self.stdout.write(f"Done! {report.summary()}")

    @staticmethod
    def _file_questions(path: Path) -> list[str]:
        try:
            return list(dict.fromkeys(questions_read(path=path)))
        except OSError as exc:
            raise CommandError(f"--file: cannot read {path}: {exc.strerror}") from None
        except ValueError as exc:
            raise CommandError(f"--file: {exc}") from None
