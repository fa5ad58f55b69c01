"""The web dashboard: see what workflow instances did, and act on them.

``outlast serve`` serves it at ``/``; ``outlast dashboard --store URL`` runs it
alone; :func:`create_dashboard` gives the ASGI app to mount into your own::

    from starlette.applications import Starlette
    from starlette.routing import Mount
    import outlast
    from outlast.dashboard import create_dashboard

    client = outlast.WorkflowClient("postgresql://...")
    app = Starlette(routes=[Mount("/workflows", app=create_dashboard(client))])

It needs the ``server`` extra (``pip install "outlast[server]"``).
"""

from __future__ import annotations

from outlast.extras import require

require("server", "The dashboard", "starlette", "jinja2", "multipart")

from outlast.dashboard.app import create_dashboard, is_dashboard_request  # noqa: E402

__all__ = ["create_dashboard", "is_dashboard_request"]
