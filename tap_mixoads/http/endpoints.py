"""The API's endpoints, named once: paths, and the template a path belongs to.

Messages, metrics and the run report name the endpoint template
(``/api/campaigns/{id}/sync``), never a concrete campaign's path.
"""

from __future__ import annotations

import re
import typing as t

import requests

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


def prepare(
    method: str,
    url: str,
    *,
    headers: t.Mapping[str, str],
    params: t.Mapping[str, t.Any] | None = None,
    json: t.Any = None,
) -> requests.PreparedRequest:
    """A request to the API, as ``requests.Request(...).prepare()`` builds it.

    Without the two things the tap never uses and a fleet pays for on every
    call: a cookie jar (with its lock) per request, and credentials taken
    from the URL (the tap's own authenticator sets the header). A thousand
    accounts hold thousands of calls waiting for their turn at once.
    """
    request = requests.PreparedRequest()
    request.prepare_method(method)
    request.prepare_url(url, params)
    request.prepare_headers(headers)
    request.prepare_body(None, None, json)
    return request
