"""The links inside messages, and providers' receipts: public routes, authenticated by signatures.

- `GET /t/o/{token}`: the open pixel (a 1x1 GIF whatever the token: nothing is revealed);
- `GET /t/c/{token}`: records the click and redirects (302) to the link the message carried; a bad
  or expired token is 404 — only a signed token redirects, so this is no open redirect;
- `GET /u/{token}`: the unsubscribe page (a button; a GET never unsubscribes, as mail scanners
  follow links); `POST /u/{token}`: unsubscribes — RFC 8058's one-click POST
  (``List-Unsubscribe=One-Click``) and the page's button alike;
- `POST /v1/notify/receipts/{tenant_id}/{channel}`: delivery receipts of the `http` provider, signed
  like a webhook with the channel's secret (401 otherwise), and WeChat's message pushes (signed in the
  query with the channel's `callback_token`, answered `success` in plain text);
- `GET /v1/notify/receipts/{tenant_id}/wechat`: WeChat's check of that URL, answered with `echostr`.

The tenant comes from the token (or the receipt's path); notify verifies the signature. These
routes carry no API key and are rate-limited by nothing but their signatures' cost.
"""

from __future__ import annotations

import base64
import contextlib
import html
import uuid
from typing import Annotated, Literal

import grpc
from fastapi import APIRouter, HTTPException, Path, Request
from fastapi.responses import HTMLResponse, PlainTextResponse, RedirectResponse, Response
from pydantic import BaseModel

from gateway.bound_stubs import NotifyClient
from gateway.dependencies import ERRORS, Clients
from gateway.problems import ServiceCallError
from patron.notify.v1 import notify_pb2
from services.notify.domain.links import MAX_TOKEN, tenant_of
from services.notify.domain.receipts import MAX_RECEIPT_BYTES
from services.notify.domain.wechat_receipts import MAX_QUERY_VALUE, QUERY_KEYS

router = APIRouter(tags=["links"])

PIXEL = base64.b64decode("R0lGODlhAQABAIAAAAAAAP///yH5BAEAAAAALAAAAAABAAEAAAIBRAA7")
Token = Annotated[str, Path(max_length=MAX_TOKEN, pattern=r"^[A-Za-z0-9_\-]+\.[A-Za-z0-9_\-]+$")]
ChannelName = Annotated[Literal["sms", "email", "push", "wechat"], Path()]
_NO_STORE = {"Cache-Control": "no-store", "Referrer-Policy": "no-referrer"}
_PAGE = """<!doctype html><html lang="zh-CN"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width,initial-scale=1"><title>{title}</title>
<style>body{{font-family:system-ui,sans-serif;max-width:32rem;margin:4rem auto;padding:0 1rem}}
button{{font-size:1rem;padding:.6rem 1.2rem}}</style></head><body>{body}</body></html>"""
_CHANNELS = {
    "email": ("邮件", "e-mail"),
    "sms": ("短信", "SMS"),
    "push": ("推送", "push"),
    "wechat": ("微信", "WeChat"),
}


def _page(title: str, body: str, status: int = 200) -> HTMLResponse:
    headers = {
        **_NO_STORE,
        "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'",
    }
    return HTMLResponse(
        _PAGE.format(title=html.escape(title), body=body), status_code=status, headers=headers
    )


def _invalid() -> HTMLResponse:
    return _page(
        "链接无效 · Link not valid",
        "<p>此链接无效或已过期。<br>This link is not valid or has expired.</p>",
        404,
    )


_INVALID_LINK = (
    grpc.StatusCode.NOT_FOUND,
    grpc.StatusCode.INVALID_ARGUMENT,
    grpc.StatusCode.UNAUTHENTICATED,
    grpc.StatusCode.PERMISSION_DENIED,
)


def _not_found(error: ServiceCallError) -> bool:
    return error.error.code() in _INVALID_LINK


def _client(clients: Clients, token: str) -> NotifyClient | None:
    tenant = tenant_of(token)
    return None if tenant is None else NotifyClient(clients, str(tenant))


def _link(request: Request, token: str) -> notify_pb2.LinkRequest:
    return notify_pb2.LinkRequest(
        token=token,
        user_agent=request.headers.get("user-agent", "")[:500],
        method=request.method,
        client_address=request.client.host if request.client else "",
    )


@router.get("/t/o/{token}", include_in_schema=False)
async def open_pixel(token: Token, request: Request, clients: Clients) -> Response:
    notify = _client(clients, token)
    if notify is not None:
        # The pixel answers alike whatever happened: it must reveal nothing.
        with contextlib.suppress(ServiceCallError):
            await notify.links.Open(_link(request, token))
    return Response(PIXEL, media_type="image/gif", headers=_NO_STORE)


async def _follow(clients: Clients, token: str, request: Request, rpc: str) -> notify_pb2.LinkResponse | None:
    """Notify's answer to one link, or None when the token is not genuine, current and the tenant's."""
    notify = _client(clients, token)
    if notify is None:
        return None
    try:
        answer: notify_pb2.LinkResponse = await getattr(notify.links, rpc)(_link(request, token))
    except ServiceCallError as error:
        if _not_found(error):
            return None
        raise
    return answer


def _channel_names(channel: str) -> tuple[str, str]:
    return _CHANNELS.get(channel, (channel, channel))


@router.get("/t/c/{token}", include_in_schema=False)
async def click(token: Token, request: Request, clients: Clients) -> Response:
    answer = await _follow(clients, token, request, "Click")
    if answer is None:
        return _invalid()
    return RedirectResponse(answer.redirect_url, status_code=302, headers=_NO_STORE)


@router.get("/u/{token}", include_in_schema=False)
async def unsubscribe_page(token: Token, request: Request, clients: Clients) -> HTMLResponse:
    answer = await _follow(clients, token, request, "DescribeUnsubscribe")
    if answer is None:
        return _invalid()
    chinese, english = _channel_names(answer.channel)
    body = (
        f"<h1>退订{chinese}营销消息</h1><p>Unsubscribe from marketing {english} messages.</p>"
        '<form method="post"><button type="submit" name="List-Unsubscribe" value="One-Click">'
        "退订 · Unsubscribe</button></form>"
    )
    return _page("退订 · Unsubscribe", body)


@router.post("/u/{token}", include_in_schema=False)
async def unsubscribe(token: Token, request: Request, clients: Clients) -> HTMLResponse:
    answer = await _follow(clients, token, request, "Unsubscribe")
    if answer is None:
        return _invalid()
    chinese, english = _channel_names(answer.channel)
    body = (
        f"<h1>已退订</h1><p>您将不再收到{chinese}营销消息。</p>"
        f"<p>You will get no more marketing {english} messages.</p>"
    )
    return _page("已退订 · Unsubscribed", body)


class ReceiptsOut(BaseModel):
    applied: int


def _callback_query(request: Request) -> dict[str, str]:
    """The query parameters a provider signs its callbacks with (WeChat's), nothing else."""
    return {key: value[:MAX_QUERY_VALUE] for key, value in request.query_params.items() if key in QUERY_KEYS}


_PLAIN = {"content": {"text/plain": {"schema": {"type": "string"}}}}


@router.post(
    "/v1/notify/receipts/{tenant_id}/{channel}",
    response_model=ReceiptsOut,
    responses={**ERRORS, 200: {"description": "JSON, or `success` as text for WeChat", **_PLAIN}},
    openapi_extra={"security": []},
)
async def receipts(
    tenant_id: uuid.UUID, channel: ChannelName, request: Request, clients: Clients
) -> ReceiptsOut | Response:
    """Delivery receipts of the `http` provider, signed with the channel's secret (Standard Webhooks):
    one `{"message_id", "status": "delivered"|"failed"|"bounced", "error"?}` or a list of them; or, on
    the wechat channel, WeChat's pushes (`subscribe_msg_sent_event`, JSON mode), signed in the query
    with the channel's `callback_token` and answered `success`."""
    body = await request.body()
    if len(body) > MAX_RECEIPT_BYTES:
        raise HTTPException(413, f"at most {MAX_RECEIPT_BYTES} bytes")
    headers = {k: v for k, v in request.headers.items() if k.startswith("webhook-")}
    notify = NotifyClient(clients, str(tenant_id))
    answer = await notify.links.Receipt(
        notify_pb2.ReceiptRequest(channel=channel, body=body, headers=headers, query=_callback_query(request))
    )
    if answer.reply:
        return PlainTextResponse(answer.reply)
    return ReceiptsOut(applied=answer.applied)


@router.get(
    "/v1/notify/receipts/{tenant_id}/wechat",
    response_class=PlainTextResponse,
    responses={**ERRORS, 200: {"description": "the echostr, once the signature verifies", **_PLAIN}},
    openapi_extra={"security": []},
)
async def verify_wechat_callback(tenant_id: uuid.UUID, request: Request, clients: Clients) -> Response:
    """WeChat's check of the message-push URL (`signature`, `timestamp`, `nonce`, `echostr` signed with
    the channel's `callback_token`): answered with `echostr` as text; 401 when it does not verify."""
    notify = NotifyClient(clients, str(tenant_id))
    answer = await notify.links.VerifyCallback(
        notify_pb2.ReceiptRequest(channel="wechat", query=_callback_query(request))
    )
    return PlainTextResponse(answer.reply)
