"""The scheduler's full collections: what survives one is frozen at the scheduler's next safe point."""

import gc

from raybench.runtime._gc import FullCollections


def test_a_full_collection_is_followed_by_one_freeze_at_the_next_settle():
    fc = FullCollections().install()
    try:
        gc.unfreeze()
        fc.settle()
        assert fc.frozen == 0 and gc.get_freeze_count() == 0  # no full collection yet: nothing to do
        gc.collect(1)
        fc.settle()
        assert fc.frozen == 0  # a younger generation's collection does not count
        kept = [[i] for i in range(1000)]  # objects that survive the full collection
        gc.collect(2)
        assert fc.pending
        fc.settle()
        assert fc.frozen == 1 and gc.get_freeze_count() >= len(kept)
        fc.settle()
        assert fc.frozen == 1  # once per full collection
    finally:
        fc.remove()
        gc.unfreeze()
    gc.collect(2)
    assert not fc.pending  # removed: it no longer listens
