"""Browse the database from the server: typed JSON, paged, sensitive values masked."""

import firestore_verify as fv
from firestore_verify.browser import CollectionBrowser


async def main(store: fv.Store) -> list[dict[str, object]]:
    await store.config.set("bot_token", "123:secret", is_sensitive=True)
    await store.config.set("warn_after_seconds", 30)

    browser = CollectionBrowser(store)
    print("collections:", [c.name for c in await browser.collections()])

    docs, cursor = [], None
    while True:  # one page after the other, ordered by document id
        page = await browser.documents("admin_config", limit=1, cursor=cursor)
        docs += page.items
        if (cursor := page.next_cursor) is None:
            break
    for doc in docs:
        print(doc.id, doc.fields["value"].model_dump(), "masked:", doc.masked)
    return [doc.model_dump(include={"id", "fields", "masked"}) for doc in docs]
