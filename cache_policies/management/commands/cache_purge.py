from django.core.management.base import BaseCommand, CommandError

from cache_policies import services
from cache_policies.models import Layer


class Command(BaseCommand):
    help = "Purge a cache layer, every layer, or one question (mirrors the admin actions)."

    def add_arguments(self, parser):
        parser.add_argument("--layer", choices=Layer.values, help="Drop this whole layer.")
        parser.add_argument("--all", action="store_true", help="Drop every layer.")
        parser.add_argument("--question", help="Drop the cached entries of this one question.")

    def handle(self, *args, layer=None, all=False, question=None, **options):
        if sum(bool(x) for x in (layer, all, question)) != 1:
            raise CommandError("give exactly one of --layer, --all or --question")
        if question:
            removed = services.question_purge(question=question)
            summary = f"Done! Purged {removed} entries of one question"
        elif layer:
            version = services.layer_purge(layer=layer)
            summary = f"Done! Purged the {layer} layer (namespace now v{version})"
        else:
            versions = services.all_purge()
            summary = f"Done! Purged {len(versions)} layers"
        if options["verbosity"] > 0:
            self.stdout.write(summary)
