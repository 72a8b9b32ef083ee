"""Browser users: real Chromium (Debian's) through locust-plugins' PlaywrightUser.

Off unless asked for, because one Chromium costs what dozens of HTTP users do (README,
"Browser users"): `LAB_BROWSERS=N` (`lab run --browsers N`, `make load BROWSERS=N`) makes N
of the users `BrowserUser`s, `LAB_SCENARIO=BrowserUser` makes all of them. Without either,
this module defines no user and imports neither Playwright nor locust-plugins, whose import
adds listeners to every Locust process. The scenario is locustfiles/_browser_scenario.py.
"""

from __future__ import annotations

import locust  # noqa: F401  - first: gevent monkey-patching before anything else

# isort: split
from locust import run_single_user

from locustfiles._settings import browsers_wanted

if browsers_wanted():
    from locustfiles._browser_scenario import BrowserUser

    __all__ = ["BrowserUser"]

if __name__ == "__main__":
    run_single_user(BrowserUser)
