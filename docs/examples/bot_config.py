"""The bot's runtime config: schema for the form, masked values, an audited update."""

import firestore_verify as fv


async def main(store: fv.Store) -> dict[str, object]:
    config = fv.BotConfigRepository(store)
    form = {field.key: field for field in config.schema().settings}
    print("cache.positive_ttl: at least", form["cache.positive_ttl"].minimum)

    admin = fv.Actor(uid="admin-1", ip_address="203.0.113.7")
    changed = await config.update({"cache.negative_ttl": 30,
                                   "webhook.secret": "s3cret"}, actor=admin)
    print("changed:", changed)

    try:
        await config.update({"cache.jitter": 2, "cache.colour": "blue"}, actor=admin)
    except fv.InvalidInputError as exc:  # nothing was written
        print("refused:", exc.errors)

    values = await config.get()  # what the dashboard shows
    print("webhook.secret:", values["webhook.secret"])
    entries = await store.audit.list(resource_type="config")
    print("audited:", sorted((e.resource_id, e.new_value) for e in entries))

    async with config.watch() as live:  # the bot applies each new BotConfig
        current = await live.next()
        print("the bot's negative_ttl:", current.cache_settings().negative_ttl)
    return values
