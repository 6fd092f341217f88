"""The API's endpoints, named once: paths, and the template a path belongs to.

Messages, metrics and the run report name the endpoint template
(``/api/campaigns/{id}/sync``), never a concrete campaign's path.
"""

from __future__ import annotations

import re

TOKEN_PATH = "/auth/token"
CAMPAIGNS_PATH = "/api/campaigns"
SYNC_PATH = "/api/campaigns/{id}/sync"

_SYNC_RE = re.compile(r"/api/campaigns/[^/]+/sync$")


def template_of(path: str) -> str:
    """The endpoint template of a concrete request path (base path ignored)."""
    if _SYNC_RE.search(path):
        return SYNC_PATH
    if path.endswith(CAMPAIGNS_PATH):
        return CAMPAIGNS_PATH
    if path.endswith(TOKEN_PATH):
        return TOKEN_PATH
    return path
