import threading
import time

from outlast.runtime.threadpool import ThreadPool


def test_runs_calls_with_at_most_size_threads() -> None:
    pool = ThreadPool(3, "t")
    lock = threading.Lock()
    running = peak = 0
    done = threading.Semaphore(0)

    def call() -> None:
        nonlocal running, peak
        with lock:
            running += 1
            peak = max(peak, running)
        time.sleep(0.01)
        with lock:
            running -= 1
        done.release()

    for _ in range(12):
        pool.submit(call)
    for _ in range(12):
        assert done.acquire(timeout=5)
    pool.shutdown(1.0)
    assert peak == 3


def test_shutdown_lets_running_finish_and_drops_queued() -> None:
    pool = ThreadPool(1, "t")
    started = threading.Event()
    ran: list[int] = []

    def slow() -> None:
        started.set()
        time.sleep(0.1)
        ran.append(1)

    pool.submit(slow)
    pool.submit(lambda: ran.append(2))
    assert started.wait(5)
    pool.shutdown(5.0)
    assert ran == [1]
    pool.submit(lambda: ran.append(3))  # ignored once closed
    assert ran == [1]


def test_a_call_submitted_from_a_pool_thread_runs_next_on_that_thread() -> None:
    pool = ThreadPool(4, "t")
    threads: list[str] = []
    done = threading.Event()

    def second() -> None:
        threads.append(threading.current_thread().name)
        done.set()

    def first() -> None:
        threads.append(threading.current_thread().name)
        pool.submit(second)

    pool.submit(first)
    assert done.wait(5)
    pool.shutdown(1.0)
    assert threads[0] == threads[1]
