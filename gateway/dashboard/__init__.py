"""The operators' web dashboard at ``/dashboard``: a single-page app served by the gateway.

It is plain JavaScript (ES modules, no build step) that calls ``/v1`` on the same origin with the
operator's session cookie; charts come from the plotly.js of the installed ``plotly`` package. See
docs/dashboard.md.
"""

from gateway.dashboard.router import router

__all__ = ["router"]
