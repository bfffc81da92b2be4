"""The HTML file: one `string.Template` (assets/page.html) filled with the stylesheet, the renderer
(assets/page.js) and the report data as one JSON blob.

Safety: the data sits in a `<script type="application/json">` element with `<`, `>` and `&` written as
JSON escapes, so no trace text can close the element; the renderer builds the page with textContent
only; and a Content-Security-Policy admits exactly this page's script and style (by SHA-256), local
images, and nothing else: no network, no other script, no forms.
"""

from __future__ import annotations

import base64
import hashlib
import html
import json
from importlib import resources
from string import Template
from typing import Any

from air.strict_json import dumps_strict


def _asset(name: str) -> str:
    return resources.files("air.report").joinpath("assets", name).read_text(encoding="utf-8")


def _sha256(text: str) -> str:
    return "'sha256-" + base64.b64encode(hashlib.sha256(text.encode("utf-8")).digest()).decode("ascii") + "'"


def embed_json(data: Any) -> str:
    """JSON safe to place inside a <script> element: ASCII only, no `<`, `>` or `&` characters."""
    try:  # the rows are finite by construction; the walk over every value is only a safety net
        text = json.dumps(data, ensure_ascii=True, allow_nan=False, separators=(",", ":"))
    except ValueError:
        text = dumps_strict(data, ensure_ascii=True, separators=(",", ":"))
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def render_page(data: dict[str, Any], title: str) -> str:
    """The complete HTML page for report `data` (see air.report.build_data)."""
    style, script = _asset("page.css"), _asset("page.js")
    csp = "; ".join([
        "default-src 'none'", f"script-src {_sha256(script)}", f"style-src {_sha256(style)}",
        "img-src 'self' file: data:", "base-uri 'none'", "form-action 'none'",
    ])
    return Template(_asset("page.html")).substitute(
        csp=csp, title=html.escape(title), style=style, script=script, data=embed_json(data),
    )
