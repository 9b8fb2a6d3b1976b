"""REST routes of the membership capability."""

from fastapi import APIRouter

router = APIRouter()
