"""`python -m ascn_workflow` is `ascn`."""

from .cli import main

main()
