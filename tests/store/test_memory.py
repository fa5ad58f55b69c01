from collections.abc import Iterator

import pytest

from outlast.store import MemoryStore
from outlast.store.base import Store
from outlast.testing.store_contract import StoreContract


class TestMemoryStore(StoreContract):
    @pytest.fixture
    def store(self) -> Iterator[Store]:
        yield MemoryStore()
