from tests.pg import fresh_database

__all__ = ["fresh_database"]
