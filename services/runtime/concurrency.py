"""Reads run at once inside one call, failing as one.

``asyncio.gather`` without ``return_exceptions`` raises the first failure and leaves the other reads
running, their own failures never retrieved (logged as such by asyncio); gathering with
``return_exceptions=True`` and raising the first failure in argument order waits for every read and
answers the failure a caller would see first if the reads ran one after the other.
"""

from __future__ import annotations

from typing import Any, TypeVar, overload

T1 = TypeVar("T1")
T2 = TypeVar("T2")
T3 = TypeVar("T3")


@overload
def first_failure_raised(results: tuple[T1 | BaseException, T2 | BaseException]) -> tuple[T1, T2]: ...


@overload
def first_failure_raised(
    results: tuple[T1 | BaseException, T2 | BaseException, T3 | BaseException],
) -> tuple[T1, T2, T3]: ...


def first_failure_raised(results: tuple[Any, ...]) -> tuple[Any, ...]:
    """``results`` of ``asyncio.gather(..., return_exceptions=True)``: raise the first exception
    among them, else return them as a tuple."""
    for result in results:
        if isinstance(result, BaseException):
            raise result
    return tuple(results)
