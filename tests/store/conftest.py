from tests.pg import fresh_database, pg_database

__all__ = ["fresh_database", "pg_database"]
