"""``python -m unifier`` is the ``unifier`` command."""

from unifier.cli import main

main()
