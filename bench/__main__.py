"""`python -m bench [--quick] ...`: the benchmark, run beside the site rather than inside one of its apps."""

import os
import sys

if __name__ == "__main__":
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "ragsite.settings")
    import django

    from ragsite import devservices

    devservices.ensure_running()  # as manage.py does: the embedded servers, unless DATABASE_URL / REDIS_URL are set
    django.setup()
    from bench.command import Command

    Command().run_from_argv(["python -m bench", "bench", *sys.argv[1:]])
