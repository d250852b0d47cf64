"""``stats.reconcile()``: recounts from the collections and repairs what drifted."""

from __future__ import annotations

import pytest
from google.cloud import firestore

import firestore_verify as fv
from firestore_verify.counters import stats_ref
from firestore_verify.testing import refused_host

pytestmark = pytest.mark.anyio


async def test_drifted_counters_are_repaired_to_the_recount(store: fv.Store) -> None:
    events = [fv.Verification(user_id=u, group_id=-1001, status=s, repeats=r)
              for u, s, r in ((1, fv.Status.SUCCESS, 4), (2, fv.Status.FAILED, 0),
                              (3, fv.Status.ERROR, 1))]
    await store.verifications.write_many(events)
    await stats_ref(store).update({"total_verifications": firestore.Increment(5),
                                   "success_count": firestore.Increment(-2)})
    drift = await store.stats.reconcile()
    assert drift.fixed == {"total_verifications": -5, "success_count": 2}
    after = drift.after
    assert (after.total_verifications, after.success_count, after.failed_count,
            after.error_count, after.total_users) == (8, 5, 1, 2, 3)
    assert not (await store.stats.reconcile()).drifted


async def test_an_unreachable_store_fails_with_the_typed_error() -> None:
    away = await fv.connect(project="demo-reconcile", emulator_host=refused_host(),
                            timeout=1, attempt_timeout=0.5)
    try:
        with pytest.raises(fv.UnavailableError):
            await away.stats.reconcile()
    finally:
        await away.close()
