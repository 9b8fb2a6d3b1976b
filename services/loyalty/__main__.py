"""`python -m services.loyalty` runs the loyalty service process."""

from services.loyalty.app import main

main()
