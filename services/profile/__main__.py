"""`python -m services.profile` runs the profile service process."""

from services.profile.app import main

main()
