"""LinkService: the open pixel, click redirects and unsubscribes (and provider receipts).
Converts and delegates only; the tenant comes from the token (the gateway reads it, notify verifies)."""

from __future__ import annotations

from typing import Any, TypeAlias

from grpc import aio

from patron.notify.v1 import notify_pb2, notify_pb2_grpc
from services.notify.domain.link_desk import LinkDesk, LinkOutcome
from services.notify.domain.receipts import ReceiptDesk
from services.notify.domain.wechat_receipts import REPLY, WeChatReceiptDesk, is_wechat_callback
from services.runtime.server import Registration
from services.runtime.tenancy import current_tenant

LINK_SERVICE = "patron.notify.v1.LinkService"

Context: TypeAlias = "aio.ServicerContext[Any, Any]"


def _answer(outcome: LinkOutcome) -> notify_pb2.LinkResponse:
    return notify_pb2.LinkResponse(
        redirect_url=outcome.redirect_url, recorded=outcome.recorded, channel=outcome.channel
    )


class LinkServicer(notify_pb2_grpc.LinkServiceServicer):
    def __init__(self, links: LinkDesk, receipts: ReceiptDesk, wechat: WeChatReceiptDesk) -> None:
        self._links = links
        self._receipts = receipts
        self._wechat = wechat

    async def Open(self, request: notify_pb2.LinkRequest, context: Context) -> notify_pb2.LinkResponse:
        return _answer(
            await self._links.open(current_tenant(), request.token, request.user_agent, request.method)
        )

    async def Click(self, request: notify_pb2.LinkRequest, context: Context) -> notify_pb2.LinkResponse:
        return _answer(
            await self._links.click(current_tenant(), request.token, request.user_agent, request.method)
        )

    async def DescribeUnsubscribe(
        self, request: notify_pb2.LinkRequest, context: Context
    ) -> notify_pb2.LinkResponse:
        return _answer(await self._links.describe(current_tenant(), request.token))

    async def Unsubscribe(self, request: notify_pb2.LinkRequest, context: Context) -> notify_pb2.LinkResponse:
        return _answer(await self._links.unsubscribe(current_tenant(), request.token))

    async def Receipt(
        self, request: notify_pb2.ReceiptRequest, context: Context
    ) -> notify_pb2.ReceiptResponse:
        headers = dict(request.headers)
        if is_wechat_callback(request.channel, headers):
            applied = await self._wechat.apply(
                current_tenant(), request.channel, request.body, dict(request.query)
            )
            return notify_pb2.ReceiptResponse(applied=applied, reply=REPLY)
        applied = await self._receipts.apply(current_tenant(), request.channel, request.body, headers)
        return notify_pb2.ReceiptResponse(applied=applied)

    async def VerifyCallback(
        self, request: notify_pb2.ReceiptRequest, context: Context
    ) -> notify_pb2.ReceiptResponse:
        echo = await self._wechat.verify(current_tenant(), request.channel, dict(request.query))
        return notify_pb2.ReceiptResponse(reply=echo)


def link_registration(servicer: LinkServicer) -> Registration:
    """The LinkService as served by the notify process."""
    return Registration(notify_pb2_grpc.add_LinkServiceServicer_to_server, servicer, LINK_SERVICE)
