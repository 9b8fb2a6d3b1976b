"""`python -m services.scoring` runs the scoring service process."""

from services.scoring.app import main

main()
