"""Wire formats shared by the provider mappings: dates, numbers, file names, MIME types. Pure."""

from __future__ import annotations

import mimetypes
import re
from datetime import UTC, datetime
from urllib.parse import unquote, urlsplit, urlunsplit

# Python's built-in table only (not the machine's /etc/mime.types), so guesses are the same everywhere.
_MIME = mimetypes.MimeTypes()


def iso_millis(moment: datetime) -> str:
    """UTC with milliseconds and Z: 2021-01-01T01:01:01.000Z (naive datetimes are taken as UTC)."""
    utc = moment.astimezone(UTC) if moment.tzinfo else moment.replace(tzinfo=UTC)
    if utc.year >= 1000:  # isoformat's text, "+00:00" made "Z" (strftime's %Y does not pad earlier years)
        return utc.isoformat(timespec="milliseconds")[:-6] + "Z"
    return utc.strftime("%Y-%m-%dT%H:%M:%S.") + f"{utc.microsecond // 1000:03d}Z"


def number_text(value: float) -> str:
    """80.0 -> "80", 80.5 -> "80.5"."""
    return str(int(value)) if float(value).is_integer() else repr(float(value))


def file_name(url: str) -> str:
    """The last path segment of a URL, URL-decoded ("" when the path has none)."""
    return unquote(urlsplit(url).path.rstrip("/").rpartition("/")[2])


def slug(text: str) -> str:
    """"Code quality (JS)" -> "code-quality-js"."""
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")


def guess_mime(url: str) -> str | None:
    """The MIME type the URL's path suggests (query and fragment ignored), or None."""
    parts = urlsplit(url)
    guessed, _ = _MIME.guess_type(urlunsplit((parts.scheme, parts.netloc, parts.path, "", "")))
    return guessed
