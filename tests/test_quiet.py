"""``assay.quiet``: a warning silenced in one thread stays silenced while another
thread leaves its own silenced block (``warnings.catch_warnings`` restored the whole
filter list on exit, taking the other thread's filter away)."""

from __future__ import annotations

import threading
import warnings

import pytest

from assay.engine.duckdb import _quiet
from assay.quiet import quiet

MESSAGE = "fetch_arrow_table() is deprecated, use to_arrow_table() instead."


def test_a_thread_leaving_its_block_leaves_another_threads_filter_in_place() -> None:
    inside, entered, left = threading.Event(), threading.Event(), threading.Event()
    raised: list[BaseException] = []

    def first() -> None:
        with _quiet():
            inside.set()
            entered.wait(10)  # the second thread is inside its block by now
        left.set()

    def second() -> None:
        inside.wait(10)
        with _quiet():
            entered.set()
            left.wait(10)  # the first thread has left its block by now
            try:
                warnings.warn(MESSAGE, DeprecationWarning, stacklevel=1)
            except DeprecationWarning as e:
                raised.append(e)

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        threads = [threading.Thread(target=first), threading.Thread(target=second)]
        # The second starts first and waits: it enters after the first has entered.
        threads[1].start()
        threads[0].start()
        for t in threads:
            t.join(30)
    assert raised == []


def test_only_the_named_warning_is_silenced_and_the_filters_do_not_grow() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        before = len(warnings.filters)
        for _ in range(3):
            with quiet(r"fetch_arrow_table\(\) is deprecated", DeprecationWarning):
                warnings.warn(MESSAGE, DeprecationWarning, stacklevel=1)
                with pytest.raises(DeprecationWarning, match="something else"):
                    warnings.warn("something else is deprecated", DeprecationWarning, stacklevel=1)
                with pytest.raises(UserWarning, match="fetch_arrow_table"):
                    warnings.warn(MESSAGE, UserWarning, stacklevel=1)
        assert len(warnings.filters) == before + 1
