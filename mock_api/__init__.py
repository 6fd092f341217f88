"""A mock of the Mixo Ads Ad Platform API, with every documented failure mode.

Run it with ``python -m mock_api``; drive it from tests with
:class:`mock_api.testing.MockServer`.
"""

from __future__ import annotations
