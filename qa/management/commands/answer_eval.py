from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from qa.answer_eval import HALVES, answer_grade, labelled_load


class Command(BaseCommand):
    help = "Answer labelled questions (no cache) and report the share whose answer states the key fact."

    def add_arguments(self, parser):
        parser.add_argument("--facts", required=True, help='JSON lines {"q": ..., "topic": ..., "facts": [...]}')
        parser.add_argument("--half", choices=HALVES, default="all", help="Even lines tune, odd lines are held out.")

    def handle(self, *args, facts, half, verbosity, **options):
        if not Path(facts).is_file():
            raise CommandError(f"No such file: {facts}")
        graded = [answer_grade(item=item) for item in labelled_load(path=Path(facts), half=half)]
        for g in graded:
            if verbosity >= 2 or (verbosity == 1 and not g.correct):
                self.stdout.write(f"{'ok  ' if g.correct else 'MISS'} {g.item.question}\n     {g.answer[:300]}")
        right = sum(g.correct for g in graded)
        self.stdout.write(f"Done! {right} of {len(graded)} answers ({half}) state the key fact: {right / max(1, len(graded)):.0%}")
