"""REST routes of the loyalty capability."""

from fastapi import APIRouter

router = APIRouter()
