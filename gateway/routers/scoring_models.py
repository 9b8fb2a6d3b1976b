"""REST routes of the scoring service's predictive models."""

from fastapi import APIRouter

router = APIRouter()
