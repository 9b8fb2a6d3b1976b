"""REST routes of the coupons capability."""

from fastapi import APIRouter

router = APIRouter()
