#!/usr/bin/env python
import os
import sys


def main() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "ragsite.settings")
    from ragsite import devservices

    # Dev entry point: with DATABASE_URL / REDIS_URL unset, bring up the embedded servers.
    # (wsgi.py never does this: production points at real servers.)
    if sys.argv[1:2] != ["help"]:
        devservices.ensure_running()
    from django.core.management import execute_from_command_line

    execute_from_command_line(sys.argv)


if __name__ == "__main__":
    main()
