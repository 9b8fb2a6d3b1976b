"""`python -m services.notify` runs the notify service process."""

from services.notify.app import main

main()
