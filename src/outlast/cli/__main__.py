"""``python -m outlast.cli``: the same as the ``outlast`` console script."""

from .main import main

main()
