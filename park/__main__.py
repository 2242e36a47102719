"""`python -m park` is the `park` command."""

from park.cli.main import main

main()
