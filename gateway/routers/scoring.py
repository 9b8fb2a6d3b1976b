"""REST routes of the scoring capability."""

from fastapi import APIRouter

router = APIRouter()
