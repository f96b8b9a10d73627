"""Timeouts of the browser-test harness, in **seconds** (playwright's own API is in milliseconds; the helpers
convert). One place, so that the server, page and widget helpers agree."""
from __future__ import annotations

SERVER_START_TIMEOUT = 90.0   # seconds for a server to answer HTTP
RENDER_TIMEOUT = 180.0        # seconds for a notebook to execute and its widgets to show (cold, busy machine)
ACTION_TIMEOUT = 30.0         # seconds for one widget action / kernel round trip
PLAYWRIGHT_TIMEOUT_MS = int(ACTION_TIMEOUT * 1000)
