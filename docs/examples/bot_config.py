"""The bot's runtime config: schema for the form, masked values, an audited update."""

import firestore_verify as fv


async def main(store: fv.Store) -> dict[str, object]:
    config = fv.BotConfigRepository(store)
    form = {field.key: field for field in config.schema().settings}
    assert form["cache.positive_ttl"].minimum == 0

    admin = fv.Actor(uid="admin-1", ip_address="203.0.113.7")
    changed = await config.update({"cache.negative_ttl": 30,
                                   "webhook.secret": "s3cret"}, actor=admin)
    assert changed == ["cache.negative_ttl", "webhook.secret"]

    problems: list[str] = []
    try:
        await config.update({"cache.jitter": 2, "cache.colour": "blue"}, actor=admin)
    except fv.InvalidInputError as exc:  # nothing was written
        problems = exc.errors
    assert problems == ["cache.colour: unknown setting",
                        "cache.jitter: Input should be less than 1"]

    values = await config.get()  # what the dashboard shows
    assert values["webhook.secret"] == fv.MASK
    entries = await store.audit.list(resource_type="config")
    assert {e.new_value for e in entries} == {30.0, fv.MASK}

    async with config.watch() as live:  # the bot applies each new BotConfig
        current = await live.next()
        assert current.cache_settings().negative_ttl == 30
    return values
