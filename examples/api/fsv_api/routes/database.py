"""``/database``: the read-only collection browser."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query

import firestore_verify as fv
from fsv_api.problems import responses
from fsv_api.security import permitted
from fsv_api.services import Services, services

router = APIRouter(prefix="/database", tags=["database"])
read = permitted(fv.Permission.READ_DATABASE)
ERRORS = responses(401, 403, 404, 422, 429)
# A store-relative collection path, e.g. "verifications" or "_metadata/stats/shards".
CollectionPath = Annotated[str, Path(max_length=1500, description="Store-relative path.")]


@router.get("/collections", response_model=list[fv.BrowserCollection], responses=ERRORS)
async def collections(svc: Services = Depends(services), _: fv.Principal = Depends(read),
                      counts: bool = False) -> list[fv.BrowserCollection]:
    """The store's root collections (with ``counts``, one aggregation count each)."""
    return await svc.browser.collections(counts=counts)


@router.get("/collections/{name:path}/documents/{doc_id}", response_model=fv.BrowserDocument,
            responses=ERRORS)
async def document(name: CollectionPath,
                   doc_id: Annotated[str, Path(min_length=1, max_length=1500)],
                   svc: Services = Depends(services),
                   _: fv.Principal = Depends(read)) -> fv.BrowserDocument:
    """One document, every field with its type (secrets masked)."""
    return await svc.browser.document(name, doc_id)


@router.get("/collections/{name:path}", response_model=fv.BrowserPage, responses=ERRORS)
async def documents(
    name: CollectionPath,
    svc: Services = Depends(services),
    _: fv.Principal = Depends(read),
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    cursor: Annotated[str | None, Query(max_length=2048)] = None,
) -> fv.BrowserPage:
    """A page of a collection's documents, by document id."""
    return await svc.browser.documents(name, limit=limit, cursor=cursor)
