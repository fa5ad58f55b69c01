from tests.http.fixtures import base_url, clean_env, client, http, runtime, server, store

__all__ = ["base_url", "clean_env", "client", "http", "runtime", "server", "store"]
