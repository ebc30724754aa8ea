"""A browser's family name from its User-Agent (PEP 222's getBrowser)."""

from __future__ import annotations

# Most specific first: Edge and Opera also claim Chrome, Chrome claims
# Safari, and nearly everyone claims Mozilla.
_FAMILIES = (
    ("Edg/", "Edge"),
    ("EdgA/", "Edge"),
    ("EdgiOS/", "Edge"),
    ("OPR/", "Opera"),
    ("Opera", "Opera"),
    ("SamsungBrowser/", "Samsung Internet"),
    ("Googlebot", "Googlebot"),
    ("bingbot", "Bingbot"),
    ("HeadlessChrome/", "Chrome"),
    ("CriOS/", "Chrome"),
    ("Chrome/", "Chrome"),
    ("FxiOS/", "Firefox"),
    ("Firefox/", "Firefox"),
    ("MSIE ", "IE"),
    ("Trident/", "IE"),
    ("Safari/", "Safari"),
    ("Lynx/", "Lynx"),
    ("curl/", "curl"),
    ("Wget/", "Wget"),
    ("python-httpx/", "httpx"),
    ("python-requests/", "requests"),
)


def browser_family(user_agent: str | None) -> str:
    if user_agent:
        for marker, family in _FAMILIES:
            if marker in user_agent:
                return family
    return "unknown"
