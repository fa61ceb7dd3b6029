"""``python -m richlazy`` runs the command line."""

from richlazy.cli import main

main()
