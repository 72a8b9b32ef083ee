"""`manage.py check --deploy` on the perf settings: only the TLS items remain.

The lab serves plain HTTP on loopback and on its Compose network (no certificate, no proxy),
so HSTS, the HTTPS redirect and secure-only cookies do not apply (README "Security model").
Any other deployment warning fails this test.
"""

from __future__ import annotations

import os
import re
import secrets
import subprocess
import sys

from tests.harness.environment import REPO_ROOT

TLS_ONLY = {
    "security.W004",  # SECURE_HSTS_SECONDS
    "security.W008",  # SECURE_SSL_REDIRECT
    "security.W012",  # SESSION_COOKIE_SECURE
    "security.W016",  # CSRF_COOKIE_SECURE
}


def test_check_deploy_on_perf_settings_leaves_only_tls_items() -> None:
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "config.settings.perf",
        "DJANGO_SECRET_KEY": secrets.token_urlsafe(50),
        "DJANGO_DEBUG": "false",
        "DJANGO_ALLOWED_HOSTS": "localhost,127.0.0.1,[::1],app",
    }
    done = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy"],
        cwd=REPO_ROOT / "app",
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    output = done.stdout + done.stderr
    assert done.returncode == 0, output
    found = set(re.findall(r"\((security\.[EW]\d+)\)", output))
    assert found <= TLS_ONLY, f"non-TLS deployment issues: {sorted(found - TLS_ONLY)}\n{output}"
    assert "ERRORS" not in output
