"""``python -m dsr``: the same command as the ``dsr`` script."""

from dsr.cli.main import main

main()
