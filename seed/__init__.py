"""`python -m seed`: deterministic, realistic multi-tenant jewelry data, bulk-loaded with COPY.

The repository root and `app/` must both be importable (docs/architecture.md, "Import paths");
`python -m seed` run from the repository root puts `app/` on the path itself.
"""

from __future__ import annotations

import sys
from pathlib import Path

_APP_DIR = str(Path(__file__).resolve().parents[1] / "app")
if _APP_DIR not in sys.path:
    sys.path.insert(0, _APP_DIR)

# The marker every seeded tenant carries (Tenant.generated_by): `--reset` removes only these.
LAB_MARKER = "lab-seed"
