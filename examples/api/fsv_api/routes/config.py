"""``/config``: the bot's typed settings, masked on read, validated and audited on write."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel

import firestore_verify as fv
from fsv_api.problems import responses
from fsv_api.schemas import ConfigUpdate
from fsv_api.security import actor_of, permitted
from fsv_api.services import Services, services

router = APIRouter(prefix="/config", tags=["config"])
read = permitted(fv.Permission.READ_CONFIG)
write = permitted(fv.Permission.WRITE_CONFIG)


class ConfigOut(BaseModel):
    """The bot's settings and how to edit them."""

    #: Every value by dotted key (defaults filled in, secrets masked).
    values: dict[str, Any]
    #: Type, bounds, default and description of every key, in display order.
    fields: list[fv.ConfigField]
    #: What a secret that is set reads as; send it back unchanged to keep the secret.
    mask: str


class ConfigSaved(ConfigOut):
    """The settings after a save, and which keys changed."""

    #: Keys whose value changed (each with one audit entry).
    changed: list[str]


async def _current(svc: Services) -> dict[str, Any]:
    schema = svc.bot_config.schema()
    return {"values": await svc.bot_config.get(masked=True), "fields": schema.settings,
            "mask": schema.mask}


@router.get("", response_model=ConfigOut, responses=responses(401, 403, 429))
async def get_config(svc: Services = Depends(services),
                     _: fv.Principal = Depends(read)) -> ConfigOut:
    """Every setting (sensitive ones masked) and the schema to edit them with."""
    return ConfigOut(**await _current(svc))


@router.put("", response_model=ConfigSaved, responses=responses(401, 403, 409, 422, 429))
async def update_config(body: ConfigUpdate, request: Request,
                        svc: Services = Depends(services),
                        principal: fv.Principal = Depends(write)) -> ConfigSaved:
    """Validate every change first, then write them all with their audit entries, or none."""
    changed = await svc.bot_config.update(body.changes, actor=actor_of(request, principal, svc))
    return ConfigSaved(**await _current(svc), changed=changed)
