"""`python -m gateway` runs the gateway process."""

from gateway.server import main

main()
