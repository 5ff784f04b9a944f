"""`civicgrid` command: Django's management commands with CivicGrid's settings."""

from __future__ import annotations

import os
import sys


def main() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "civicgrid.settings")
    from django.core.management import execute_from_command_line

    argv = list(sys.argv)
    if len(argv) > 1 and not argv[1].startswith("-"):
        argv[1] = argv[1].replace("-", "_")  # `civicgrid verify-audit` == `civicgrid verify_audit`
    execute_from_command_line(argv)


if __name__ == "__main__":
    main()
