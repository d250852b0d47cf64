"""The group planners, without Firestore: documents as read in, writes out."""

from __future__ import annotations

from typing import Any

import pytest

import firestore_verify as fv
from firestore_verify.repositories.group_plans import (
    Audit,
    GroupPlan,
    ProtectPlan,
    Write,
    audited_group,
    parse_protect,
    plan_delete,
    plan_link,
    plan_protect,
    plan_set_enabled,
    plan_unlink,
    refresh_targets,
    rewrite_refs,
)

GROUPS, CHANNELS, OWNERS = "protected_groups", "enforced_channels", "owners"
GROUP = fv.GroupInfo(id=-1001, title="Crypto Chat", member_count=120)
OWNER = fv.OwnerInfo(id=42, username="alice")
NEWS = fv.ChannelInfo(id=-2001, title="News", username="news_chan")
DEALS = fv.ChannelInfo(id=-2002, title="Deals", invite_link="https://t.me/+abc",
                       subscriber_count=9)
NEWS_REF = fv.ChannelRef(channel_id=-2001, title="News", username="news_chan")
DEALS_REF = fv.ChannelRef(channel_id=-2002, title="Deals", invite_link="https://t.me/+abc")


def stored_group(gid: int = -1001, *refs: fv.ChannelRef, **extra: Any) -> fv.ProtectedGroup:
    fields: dict[str, Any] = {"owner_id": 42, "title": "Crypto Chat", "member_count": 120,
                              **extra}
    return fv.ProtectedGroup(id=gid, enforced_channels=list(refs), **fields)


def channel_doc(title: str, *linked: int, **extra: Any) -> dict[str, Any]:
    return {"title": title, "username": None, "invite_link": None, "subscriber_count": None,
            "linked_groups": list(linked), **extra}


def protect(channels: list[fv.ChannelInfo], **read: Any) -> ProtectPlan:
    args: dict[str, Any] = {"params": None, "current": None, "owner_doc": None,
                            "channel_docs": {}, **read}
    return plan_protect(GROUP, OWNER, channels, **args)


# -- protect -------------------------------------------------------------------------------


def test_protect_a_new_group_creates_owner_group_and_channels() -> None:
    plan = protect([NEWS, DEALS], params={"warning_template": "Join first"})
    assert plan.writes == (
        Write("create", OWNERS, 42, {"username": "alice", "settings": {}}),
        Write("create", GROUPS, -1001, {
            "owner_id": 42, "title": "Crypto Chat", "title_lower": "crypto chat",
            "enabled": True, "params": {"warning_template": "Join first"}, "member_count": 120,
            "enforced_channels": [
                {"channel_id": -2001, "title": "News", "username": "news_chan",
                 "invite_link": None},
                {"channel_id": -2002, "title": "Deals", "username": None,
                 "invite_link": "https://t.me/+abc"},
            ],
        }),
        Write("create", CHANNELS, -2001, {"title": "News", "username": "news_chan",
                                          "invite_link": None, "subscriber_count": None,
                                          "linked_groups": [-1001]}),
        Write("create", CHANNELS, -2002, {"title": "Deals", "username": None,
                                          "invite_link": "https://t.me/+abc",
                                          "subscriber_count": 9, "linked_groups": [-1001]}),
    )
    assert plan.counters == {"total_groups": 1, "total_channels": 2}
    assert plan.audit == Audit("protect", -1001, old_value=None, new_value={
        "title": "Crypto Chat", "enabled": True, "enforced_channels": [-2001, -2002]})
    assert (plan.created, plan.enabled, plan.new_channels) == (True, True, (-2001, -2002))


def test_protect_again_plans_nothing() -> None:
    plan = protect(
        [NEWS],
        params={"a": 1},
        current=stored_group(-1001, NEWS_REF, params={"a": 1}),
        owner_doc={"username": "alice", "settings": {}},
        channel_docs={-2001: channel_doc("News", -1001, username="news_chan")},
    )
    assert plan == ProtectPlan()
    # Fewer details than stored (no username, no member count, no params) keep them.
    plan = plan_protect(fv.GroupInfo(id=-1001, title="Crypto Chat"), fv.OwnerInfo(id=42),
                        [fv.ChannelInfo(id=-2001, title="News")], params=None,
                        current=stored_group(-1001, NEWS_REF, params={"a": 1}),
                        owner_doc={"username": "alice"},
                        channel_docs={-2001: channel_doc("News", -1001, username="news_chan")})
    assert plan == ProtectPlan()


def test_protect_re_enables_a_disabled_group_and_counts_it() -> None:
    current = stored_group(-1001, NEWS_REF, enabled=False)
    plan = protect([], current=current, owner_doc={"username": "alice"})
    assert plan.writes == (Write("update", GROUPS, -1001, {"enabled": True}),)
    assert plan.counters == {"total_groups": 1}
    assert plan.audit == Audit("protect", -1001, old_value={
        "id": -1001, "owner_id": 42, "title": "Crypto Chat", "enabled": False, "params": {},
        "member_count": 120,
        "enforced_channels": [{"channel_id": -2001, "title": "News", "username": "news_chan"}],
    }, new_value={"title": "Crypto Chat", "enabled": True, "enforced_channels": [-2001]})
    assert (plan.created, plan.enabled, plan.new_channels) == (False, True, ())


def test_protect_adds_channels_and_refreshes_what_changed() -> None:
    plan = plan_protect(
        fv.GroupInfo(id=-1001, title="New title", member_count=5),
        fv.OwnerInfo(id=43, username="bob_b"),
        [fv.ChannelInfo(id=-2001, title="Renamed"), DEALS],
        params=None,
        current=stored_group(-1001, NEWS_REF),
        owner_doc={"username": "bob"},
        channel_docs={-2001: channel_doc("News", -1001, username="news_chan")},
    )
    assert plan.writes == (
        Write("update", OWNERS, 43, {"username": "bob_b"}),
        Write("update", GROUPS, -1001, {
            "title": "New title", "title_lower": "new title", "owner_id": 43, "member_count": 5,
            "enforced_channels": [
                {"channel_id": -2001, "title": "Renamed", "username": "news_chan",
                 "invite_link": None},
                DEALS_REF.model_dump(),
            ]}),
        Write("update", CHANNELS, -2001, {"title": "Renamed"}),
        Write("create", CHANNELS, -2002, {"title": "Deals", "username": None,
                                          "invite_link": "https://t.me/+abc",
                                          "subscriber_count": 9, "linked_groups": [-1001]}),
    )
    assert plan.counters == {"total_channels": 1}  # the group was already counted
    assert plan.audit is not None
    assert plan.audit.new_value == {"title": "New title", "enabled": True,
                                    "enforced_channels": [-2001, -2002]}
    assert (plan.created, plan.enabled, plan.new_channels) == (False, False, (-2002,))


def test_protect_create_only_refuses_an_existing_group() -> None:
    with pytest.raises(fv.AlreadyExistsError, match="protected group -1001"):
        protect([NEWS], current=stored_group(), create_only=True)
    assert protect([NEWS], create_only=True).created


def test_protect_refuses_too_many_channels_and_duplicates() -> None:
    many = [fv.ChannelInfo(id=-3000 - i, title=f"c{i}") for i in range(49)]
    current = stored_group(-1001, NEWS_REF, DEALS_REF)
    with pytest.raises(fv.InvalidInputError, match="at most 50"):
        protect(many, current=current)
    assert len(protect(many[:48], current=current).new_channels) == 48
    with pytest.raises(fv.InvalidInputError, match="twice"):
        parse_protect(GROUP, OWNER, [NEWS, {"id": -2001, "title": "again"}], None)
    assert parse_protect({"id": -1001, "title": " Chat "}, {"id": 42}, [], None) == (
        fv.GroupInfo(id=-1001, title="Chat"), fv.OwnerInfo(id=42), [])


# -- embedded refs ------------------------------------------------------------------------


def test_rewrite_refs_merges_replaces_removes_and_appends() -> None:
    refs = [NEWS_REF, DEALS_REF]
    renamed = fv.ChannelInfo(id=-2001, title="Renamed")  # no username: keep the embedded one
    assert rewrite_refs(refs, {-2001: renamed}) == [
        fv.ChannelRef(channel_id=-2001, title="Renamed", username="news_chan"), DEALS_REF]
    replaced = fv.ChannelRef(channel_id=-2001, title="As is")
    assert rewrite_refs(refs, {-2001: replaced}) == [replaced, DEALS_REF]
    assert rewrite_refs(refs, {-2001: None}) == [DEALS_REF]
    assert rewrite_refs(refs, {-2009: None, -2008: replaced}) == refs  # not embedded: no-op
    alerts = fv.ChannelInfo(id=-2003, title="Alerts")
    assert rewrite_refs(refs, {-2003: alerts, -2002: DEALS}, append=True) == [
        NEWS_REF, DEALS_REF, fv.ChannelRef(channel_id=-2003, title="Alerts")]
    assert refs == [NEWS_REF, DEALS_REF]  # the input is left alone
    full = [fv.ChannelRef(channel_id=-3000 - i, title="c") for i in range(50)]
    assert rewrite_refs(full, {-3000: alerts}, append=True)[0].title == "Alerts"
    with pytest.raises(fv.InvalidInputError, match="at most 50"):
        rewrite_refs(full, {-2003: alerts}, append=True)


def test_a_new_channel_title_reaches_every_group_that_embeds_it() -> None:
    old = fv.ChannelRef(channel_id=-2001, title="Old", username="old_name")
    stored = channel_doc("Old", -1001, -1002, -1003, username="old_name")
    renamed = fv.ChannelInfo(id=-2001, title="Renamed")
    assert refresh_targets(-1001, [(renamed, stored)]) == [-1002, -1003]
    assert refresh_targets(-1001, [(renamed, None)]) == []  # a new channel: nobody embeds it
    same = fv.ChannelInfo(id=-2001, title="Old", username="old_name")
    assert refresh_targets(-1001, [(same, stored)]) == []  # nothing goes stale

    others = [stored_group(-1002, old), stored_group(-1003, DEALS_REF, old)]
    plan = protect([renamed], current=stored_group(-1001, old), owner_doc={"username": "alice"},
                   channel_docs={-2001: stored}, others=others)
    fresh = {"channel_id": -2001, "title": "Renamed", "username": "old_name",
             "invite_link": None}
    assert plan.writes == (
        Write("update", GROUPS, -1001, {"enforced_channels": [fresh]}),
        Write("update", CHANNELS, -2001, {"title": "Renamed"}),
        Write("update", GROUPS, -1002, {"enforced_channels": [fresh]}),
        Write("update", GROUPS, -1003, {"enforced_channels": [DEALS_REF.model_dump(), fresh]}),
    )
    assert plan.counters == {}

    # Through link_channel too; a group already fresh is not written.
    again = fv.ChannelInfo(id=-2001, title="Again", invite_link="https://t.me/+x")
    current = stored_group(-1002, old)
    others = [stored_group(-1001, old),
              stored_group(-1003, old.model_copy(update={"title": "Again",
                                                         "invite_link": "https://t.me/+x"}))]
    linked = plan_link(-1002, again, group=current, channel_doc=stored, others=others)
    fresh = {"channel_id": -2001, "title": "Again", "username": "old_name",
             "invite_link": "https://t.me/+x"}
    assert [(w.key, w.fields) for w in linked.writes] == [
        (-1002, {"enforced_channels": [fresh]}),
        (-2001, {"title": "Again", "invite_link": "https://t.me/+x"}),
        (-1001, {"enforced_channels": [fresh]}),
    ]


# -- enable / disable ---------------------------------------------------------------------


def test_set_enabled_plans_one_update_a_counter_and_the_audit() -> None:
    assert plan_set_enabled(-1001, {"enabled": True}, False) == GroupPlan(
        writes=(Write("update", GROUPS, -1001, {"enabled": False}),),
        counters={"total_groups": -1},
        audit=Audit("disable", -1001, old_value={"enabled": True}, new_value={"enabled": False}),
    )
    assert plan_set_enabled(-1001, {"enabled": False}, True) == GroupPlan(
        writes=(Write("update", GROUPS, -1001, {"enabled": True}),),
        counters={"total_groups": 1},
        audit=Audit("enable", -1001, old_value={"enabled": False}, new_value={"enabled": True}),
    )
    assert plan_set_enabled(-1001, {}, True) == GroupPlan()  # enabled when the field is absent
    assert plan_set_enabled(-1001, {"enabled": False}, False) == GroupPlan()
    with pytest.raises(fv.NotFoundError, match="-1001"):
        plan_set_enabled(-1001, None, True)


# -- link / unlink ---------------------------------------------------------------------------


def test_link_a_new_channel_creates_and_counts_it() -> None:
    plan = plan_link(-1001, DEALS, group=stored_group(-1001, NEWS_REF), channel_doc=None)
    assert plan.writes == (
        Write("update", GROUPS, -1001, {"enforced_channels": [NEWS_REF.model_dump(),
                                                              DEALS_REF.model_dump()]}),
        Write("create", CHANNELS, -2002, {"title": "Deals", "username": None,
                                          "invite_link": "https://t.me/+abc",
                                          "subscriber_count": 9, "linked_groups": [-1001]}),
    )
    assert plan.counters == {"total_channels": 1}
    assert plan.audit == Audit("link_channel", -1001, old_value=None, new_value={
        "channel_id": -2002, "title": "Deals", "username": None,
        "invite_link": "https://t.me/+abc"})


def test_link_an_existing_channel_lists_the_group_without_counting() -> None:
    plan = plan_link(-1002, NEWS, group=stored_group(-1002),
                     channel_doc=channel_doc("News", -1001, username="news_chan"))
    assert plan.writes == (
        Write("update", GROUPS, -1002, {"enforced_channels": [NEWS_REF.model_dump()]}),
        Write("update", CHANNELS, -2001, {"linked_groups": [-1001, -1002]}),
    )
    assert plan.counters == {}
    assert plan.audit is not None
    assert plan.audit.old_value is None
    # Linked on both sides already: nothing at all.
    linked = channel_doc("News", -1001, -1002, username="news_chan")
    assert plan_link(-1002, NEWS, group=stored_group(-1002, NEWS_REF),
                     channel_doc=linked) == GroupPlan()
    # A new title for an embedded channel: the audit has the old and the new ref.
    plan = plan_link(-1002, NEWS.model_copy(update={"title": "Newer"}),
                     group=stored_group(-1002, NEWS_REF), channel_doc=linked)
    assert plan.audit == Audit("link_channel", -1002,
                               old_value=NEWS_REF.model_dump(mode="json"),
                               new_value={**NEWS_REF.model_dump(mode="json"), "title": "Newer"})


def test_link_refuses_a_missing_group_and_a_full_one() -> None:
    with pytest.raises(fv.NotFoundError, match="-1404"):
        plan_link(-1404, NEWS, group=None, channel_doc=None)
    full = stored_group(-1001, *[fv.ChannelRef(channel_id=-3000 - i, title="c")
                                 for i in range(50)])
    with pytest.raises(fv.InvalidInputError, match="at most 50"):
        plan_link(-1001, NEWS, group=full, channel_doc=None)


def test_unlink_the_last_channel_keeps_it_unless_asked() -> None:
    group = stored_group(-1001, NEWS_REF)
    news = channel_doc("News", -1001, username="news_chan")
    plan = plan_unlink(-1001, -2001, group=group, channel_doc=news)
    assert plan.writes == (Write("update", GROUPS, -1001, {"enforced_channels": []}),
                           Write("update", CHANNELS, -2001, {"linked_groups": []}))
    assert plan.counters == {}
    assert plan.audit == Audit("unlink_channel", -1001, old_value={
        "channel_id": -2001, "title": "News", "username": "news_chan", "invite_link": None},
        new_value={"delete_orphan": False})

    plan = plan_unlink(-1001, -2001, group=group, channel_doc=news, delete_orphan=True)
    assert plan.writes == (Write("update", GROUPS, -1001, {"enforced_channels": []}),
                           Write("delete", CHANNELS, -2001))
    assert plan.counters == {"total_channels": -1}
    assert plan.audit is not None
    assert plan.audit.new_value == {"delete_orphan": True}

    # Still linked elsewhere: kept even with delete_orphan.
    shared = channel_doc("News", -1001, -1002)
    plan = plan_unlink(-1001, -2001, group=group, channel_doc=shared, delete_orphan=True)
    assert plan.writes[1] == Write("update", CHANNELS, -2001, {"linked_groups": [-1002]})
    assert plan.counters == {}


def test_unlink_twice_is_harmless_and_unknown_channels_are_not_found() -> None:
    group = stored_group(-1001, DEALS_REF)
    unlinked = channel_doc("News")
    assert plan_unlink(-1001, -2001, group=group, channel_doc=unlinked) == GroupPlan()
    with pytest.raises(fv.NotFoundError, match=r"^enforced channel -2999 does not exist"):
        plan_unlink(-1001, -2999, group=group, channel_doc=None)
    with pytest.raises(fv.NotFoundError, match=r"^protected group -1404 does not exist"):
        plan_unlink(-1404, -2001, group=None, channel_doc=unlinked)
    # The channel document is gone but the group still embeds it: unlink the group side.
    plan = plan_unlink(-1001, -2002, group=group, channel_doc=None)
    assert plan.writes == (Write("update", GROUPS, -1001, {"enforced_channels": []}),)


# -- delete -------------------------------------------------------------------------------------


def test_delete_unlinks_every_channel_and_uncounts_an_enabled_group() -> None:
    group = stored_group(-1001, NEWS_REF, DEALS_REF, params={"k": "v"})
    plan = plan_delete(group, {-2001: channel_doc("News", -1002, -1001),
                               -2002: None})  # a channel document already gone
    assert plan.writes == (Write("update", CHANNELS, -2001, {"linked_groups": [-1002]}),
                           Write("delete", GROUPS, -1001))
    assert plan.counters == {"total_groups": -1}
    assert plan.audit == Audit("delete", -1001, old_value=audited_group(group))
    assert plan.audit.old_value == {
        "id": -1001, "owner_id": 42, "title": "Crypto Chat", "enabled": True,
        "params": {"k": "v"}, "member_count": 120,
        "enforced_channels": [{"channel_id": -2001, "title": "News", "username": "news_chan"},
                              {"channel_id": -2002, "title": "Deals",
                               "invite_link": "https://t.me/+abc"}]}

    disabled = plan_delete(stored_group(-1001, NEWS_REF, enabled=False),
                           {-2001: channel_doc("News", -1002)})  # does not list the group
    assert disabled.writes == (Write("delete", GROUPS, -1001),)
    assert disabled.counters == {}


def test_writes_name_their_server_timestamps() -> None:
    assert Write("create", GROUPS, -1).server_timestamps == ("created_at", "updated_at")
    assert Write("update", GROUPS, -1).server_timestamps == ("updated_at",)
    assert Write("delete", GROUPS, -1).server_timestamps == ()
