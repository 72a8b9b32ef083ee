"""Static assets: WhiteNoise, plus the planted front-end defect `assets_uncached`.

WhiteNoise serves what `collectstatic` wrote with CompressedManifestStaticFilesStorage: hashed
names with `Cache-Control: max-age=315360000, public, immutable`, and the `.br`/`.gz` copy the
client accepts (Chromium accepts brotli over HTTPS only, so over the lab's plain HTTP it gets
gzip). Assets are public: they are served before sessions and tenancy, and hold no shop data.

LAB_FAULTS=assets_uncached serves the same files the way a forgotten production setting does:
uncompressed, with no Cache-Control, ETag or Last-Modified, so a browser can neither keep nor
revalidate them and downloads every asset again on every page (the report's asset findings).
"""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest, HttpResponse
from whitenoise.middleware import WhiteNoiseMiddleware

from jewelry.core import faults

# Request headers that let WhiteNoise pick a compressed copy or answer 304 Not Modified.
_NEGOTIATING_HEADERS = ("HTTP_ACCEPT_ENCODING", "HTTP_IF_NONE_MATCH", "HTTP_IF_MODIFIED_SINCE")
# Response headers that let a browser cache or revalidate an asset.
_CACHING_HEADERS = ("Cache-Control", "ETag", "Last-Modified", "Expires", "Vary")


class LabWhiteNoiseMiddleware(WhiteNoiseMiddleware):
    def __init__(self, get_response: Any = None, **kwargs: Any) -> None:
        super().__init__(get_response, **kwargs)
        self.uncached = faults.enabled("assets_uncached")

    def serve(self, static_file: Any, request: HttpRequest) -> HttpResponse:  # type: ignore[override]
        if not self.uncached:
            return WhiteNoiseMiddleware.serve(static_file, request)
        meta = {k: v for k, v in request.META.items() if k not in _NEGOTIATING_HEADERS}
        response = static_file.get_response(request.method, meta)
        body = b""
        if response.file is not None:
            with response.file:
                body = response.file.read()
        http_response = HttpResponse(body)
        del http_response["Content-Type"]
        for key, value in response.headers:
            if key not in _CACHING_HEADERS:
                http_response[key] = value
        return http_response
