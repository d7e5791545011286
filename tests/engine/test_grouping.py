"""group_batches: the delivery groups of the command line and the scoring process."""

from __future__ import annotations

import pytest

from desktop.engine.batch import group_batches


class Clock:
    """A clock the test moves: each batch's arrival reads the next time."""

    def __init__(self, *times):
        self.times = list(times)

    def __call__(self):
        return self.times.pop(0)


def sized(*sizes):
    return [list(range(n)) for n in sizes]  # anything with a len() stands for a batch


def test_a_group_closes_when_the_interval_has_passed_since_the_last_one_closed():
    batches = sized(1, 1, 1, 1, 1)
    # start at 0; arrivals at 0.01, 0.03 (closes: 0.03 >= 0.025), 0.04, 0.05 (0.02 since 0.03), 0.06 (0.03: closes)
    groups = list(group_batches(batches, 0.025, clock=Clock(0.0, 0.01, 0.03, 0.04, 0.05, 0.06)))
    assert [len(g) for g in groups] == [2, 3]
    assert [b for g in groups for b in g] == batches  # consecutive, in order, each once


def test_a_group_closes_at_max_items_and_the_rest_comes_at_the_end():
    batches = sized(200, 200, 200, 600, 10, 10)
    groups = list(group_batches(batches, 60.0, 512, clock=Clock(*[0.0] * 7)))
    assert [[len(b) for b in g] for g in groups] == [[200, 200, 200], [600], [10, 10]]


def test_size_counts_what_each_element_holds():
    pairs = [(sized(300)[0], 1.0), (sized(300)[0], 2.0), (sized(5)[0], 3.0)]
    groups = list(group_batches(pairs, 60.0, 512, size=lambda p: len(p[0]), clock=Clock(*[0.0] * 4)))
    assert [[t for _, t in g] for g in groups] == [[1.0, 2.0], [3.0]]


def test_nothing_in_nothing_out():
    assert list(group_batches([], 0.05, 512)) == []


def test_when_the_source_raises_the_group_in_progress_comes_first():
    def source():
        yield from sized(1, 2)
        raise KeyboardInterrupt

    groups = group_batches(source(), 60.0, 512, clock=Clock(*[0.0] * 3))
    assert [len(b) for b in next(groups)] == [1, 2]  # delivered before the interrupt
    with pytest.raises(KeyboardInterrupt):
        next(groups)


def test_closing_early_loses_nothing_it_had_yielded():
    groups = group_batches(iter(sized(1, 1, 1)), 0.0, clock=Clock(*[0.0] * 4))
    assert len(next(groups)) == 1
    groups.close()  # the consumer stopped: no error, no more groups
    with pytest.raises(StopIteration):
        next(groups)
