import sys

import numpy as np
import pytest

from faceclust.runtime.malloc_tuning import return_free_memory

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's allocator")


def resident_mb() -> float:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    raise AssertionError("no VmRSS")


def test_memory_freed_in_the_middle_of_the_heap_goes_back_to_the_system():
    # As the tutorial's pickle leaves it: a vector array per face (1 KB each, on the heap),
    # freed once copied into one matrix, below what was allocated after them.
    vectors = [np.ones(128) for _ in range(200_000)]
    kept_after = np.ones(128)
    del vectors
    freed = resident_mb()
    assert return_free_memory()
    assert resident_mb() < freed - 100  # of the 200 MB freed
    assert kept_after.sum() == 128
