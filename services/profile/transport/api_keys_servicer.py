"""gRPC servicer of ``patron.profile.v1.ApiKeyService``: convert, delegate to the domain, convert back."""

from __future__ import annotations

from grpc import aio

from patron.profile.v1 import profile_pb2, profile_pb2_grpc
from services.profile.domain.api_keys import ApiKey, ApiKeys
from services.runtime.proto_convert import optional_time, set_time
from services.runtime.server import Registration
from services.runtime.tenancy import current_tenant

API_KEY_SERVICE = "patron.profile.v1.ApiKeyService"


def api_key_to_proto(key: ApiKey) -> profile_pb2.ApiKey:
    message = profile_pb2.ApiKey(
        key_id=str(key.key_id),
        name=key.name,
        prefix=key.prefix,
        scopes=key.scopes,
        rolled_from=str(key.rolled_from) if key.rolled_from else "",
    )
    set_time(message, "created_at", key.created_at)
    set_time(message, "expires_at", key.expires_at)
    set_time(message, "last_used_at", key.last_used_at)
    set_time(message, "revoked_at", key.revoked_at)
    return message


class ApiKeyServicer(profile_pb2_grpc.ApiKeyServiceServicer):
    def __init__(self, keys: ApiKeys) -> None:
        self._keys = keys

    async def IssueApiKey(
        self, request: profile_pb2.IssueApiKeyRequest, context: aio.ServicerContext
    ) -> profile_pb2.ApiKey:
        issued = await self._keys.issue(
            current_tenant(),
            request.api_key_sha256,
            request.api_key_prefix,
            request.name,
            list(request.scopes),
            optional_time(request, "expires_at"),
        )
        return api_key_to_proto(issued)

    async def ListApiKeys(
        self, request: profile_pb2.ListApiKeysRequest, context: aio.ServicerContext
    ) -> profile_pb2.ListApiKeysResponse:
        keys = await self._keys.list(current_tenant())
        return profile_pb2.ListApiKeysResponse(items=[api_key_to_proto(key) for key in keys])

    async def RevokeApiKey(
        self, request: profile_pb2.RevokeApiKeyRequest, context: aio.ServicerContext
    ) -> profile_pb2.ApiKey:
        return api_key_to_proto(await self._keys.revoke(current_tenant(), request.key_id))

    async def RollApiKey(
        self, request: profile_pb2.RollApiKeyRequest, context: aio.ServicerContext
    ) -> profile_pb2.RollApiKeyResponse:
        new, replaced = await self._keys.roll(
            current_tenant(), request.key_id, request.api_key_sha256, request.api_key_prefix, request.overlap
        )
        return profile_pb2.RollApiKeyResponse(key=api_key_to_proto(new), replaced=api_key_to_proto(replaced))


def api_key_registration(keys: ApiKeys) -> Registration:
    return Registration(
        profile_pb2_grpc.add_ApiKeyServiceServicer_to_server, ApiKeyServicer(keys), API_KEY_SERVICE
    )
