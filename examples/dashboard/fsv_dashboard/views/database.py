"""Database: the read-only Firestore collection browser, a live document view.

Everything comes from the library's :class:`~firestore_verify.CollectionBrowser`
(``store.browser``): the store's collections (one ``ListCollectionIds`` call),
their documents page by page (by document id, with a cursor), every field with
its Firestore type, secrets masked. A document's page keeps it live through
the page's one stream (``store.browser.watch_document``: one listener per
document for every open page). Nothing here writes.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import Response

import firestore_verify as fv
from fsv_dashboard.render import fragment, render
from fsv_dashboard.security import current_principal
from fsv_dashboard.services import Services, services
from fsv_dashboard.streams import page_stream

router = APIRouter()

#: Fields summarised per row of a collection's listing.
SUMMARY_FIELDS = 4
CollectionPath = Annotated[str, Query(min_length=1, max_length=1500)]
DocumentId = Annotated[str, Query(min_length=1, max_length=1500)]


def summary(value: Any, limit: int = 60) -> str:
    """A short text for an encoded value (the listing's cells)."""
    kind, raw = value.type, value.value
    if kind == "map":
        text = "{" + ", ".join(raw) + "}"
    elif kind == "array":
        text = f"[{len(raw)} item{'s' if len(raw) != 1 else ''}]"
    elif kind == "geopoint":
        text = f"{raw.latitude}, {raw.longitude}"
    elif kind == "null":
        text = "null"
    elif kind == "boolean":
        text = "true" if raw else "false"
    else:
        text = str(raw)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def crumbs(path: str) -> list[tuple[str, str | None, str | None]]:
    """The breadcrumbs of a store-relative path: (label, collection, document id)."""
    segments = path.split("/")
    found: list[tuple[str, str | None, str | None]] = []
    for index, segment in enumerate(segments):
        prefix = "/".join(segments[: index + 1])
        if index % 2 == 0:
            found.append((segment, prefix, None))
        else:
            found.append((segment, "/".join(segments[:index]), segment))
    return found


@router.get("/database")
async def database_page(request: Request, c: Annotated[str | None, Query(max_length=1500)] = None,
                        cursor: Annotated[str | None, Query(max_length=2048)] = None,
                        svc: Services = Depends(services),
                        principal: fv.Principal = Depends(current_principal)) -> Response:
    """The collections, and one page of the documents of collection ``c``."""
    principal.require(fv.Permission.READ_DATABASE)
    browser = svc.store.browser
    collections = await browser.collections()
    page = await browser.documents(c, limit=svc.settings.page_size, cursor=cursor) if c else None
    return render(request, "database.html", {
        "collections": collections, "collection": c, "page": page, "paged": bool(cursor),
        "summary": summary, "summary_fields": SUMMARY_FIELDS,
        "crumbs": crumbs(c) if c else []})


async def _document(svc: Services, c: str, doc_id: str) -> fv.BrowserDocument | None:
    try:
        return await svc.store.browser.document(c, doc_id)
    except fv.NotFoundError:
        # A missing document of a real collection is shown as missing (it may appear
        # live); an unknown collection is a 404.
        svc.store.browser.watch_document(c, doc_id)  # raises for an unknown collection
        return None


@router.get("/database/document")
async def document_page(request: Request, c: CollectionPath, id: DocumentId,
                        svc: Services = Depends(services),
                        principal: fv.Principal = Depends(current_principal)) -> Response:
    """One document: every field with its type, its subcollections; kept live."""
    principal.require(fv.Permission.READ_DATABASE)
    document = await _document(svc, c, id)
    subcollections = await svc.store.browser.subcollections(c, id)
    return render(request, "document.html", {
        "collection": c, "doc_id": id, "document": document, "subcollections": subcollections,
        "crumbs": crumbs(f"{c}/{id}")})


@router.get("/stream/database/document")
async def document_stream(c: CollectionPath, id: DocumentId, svc: Services = Depends(services),
                          principal: fv.Principal = Depends(current_principal)) -> Response:
    """Event ``document``: the document's fields whenever it changes."""
    principal.require(fv.Permission.READ_DATABASE)
    browser = svc.store.browser
    browser.watch_document(c, id)  # check the names now: a bad one is a 404/422, not a stream

    async def on_document(document: fv.BrowserDocument | None) -> list[tuple[str, str]]:
        return [("document", fragment(svc.templates, "_document.html", principal,
                                      document=document, collection=c, doc_id=id))]

    return page_stream(svc, {"document": ((f"browser:{c}/{id}",
                                           lambda: browser.watch_document(c, id)),
                                          on_document)})
