from concurrent.futures import ThreadPoolExecutor

from faceclust.runtime.threads import map_ahead


def test_results_come_back_in_order_with_only_a_few_submitted_ahead():
    submitted = []

    def square(value: int) -> int:
        submitted.append(value)
        return value * value

    taken = []
    with ThreadPoolExecutor(2) as pool:
        for value, result in map_ahead(pool, square, range(20), ahead=3):
            # Never more than 3 past the one being taken (plus it) were handed to the pool.
            assert max(submitted) <= value + 3
            taken.append((value, result))
    assert taken == [(value, value * value) for value in range(20)]


def test_a_caller_that_stops_early_leaves_the_rest_unsubmitted():
    submitted = []
    with ThreadPoolExecutor(2) as pool:
        for value, _ in map_ahead(pool, submitted.append, range(100), ahead=4):
            if value == 5:
                break
    assert len(submitted) <= 10
