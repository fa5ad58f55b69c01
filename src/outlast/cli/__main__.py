"""``python -m outlast.cli``: the same as the ``outlast`` console script."""

from outlast.cli.main import main

main()
