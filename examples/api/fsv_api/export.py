"""CSV export of listings, streamed page by page (bounded: never the whole table at once)."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import AsyncIterator, Iterable, Sequence
from typing import Any

from fastapi.responses import StreamingResponse

__all__ = ["csv_response", "json_lines"]


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, (dict, list)):
        return json.dumps(value, separators=(",", ":"), default=str)
    text = str(value)
    # A cell starting like a formula would run in a spreadsheet: quote it as text.
    return f"'{text}" if text[:1] in ("=", "+", "-", "@") and not _number(text) else text


def _number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _row(values: Iterable[Any]) -> str:
    out = io.StringIO()
    csv.writer(out).writerow([_cell(v) for v in values])
    return out.getvalue()


def csv_response(columns: Sequence[str], rows: AsyncIterator[dict[str, Any]],
                 filename: str) -> StreamingResponse:
    """Stream ``rows`` (JSON-ready dicts) as CSV with a header row."""

    async def body() -> AsyncIterator[str]:
        yield _row(columns)
        async for row in rows:
            yield _row(row.get(c) for c in columns)

    return StreamingResponse(body(), media_type="text/csv; charset=utf-8",
                             headers={"Content-Disposition": f'attachment; filename="{filename}"'})


def json_lines(rows: AsyncIterator[dict[str, Any]]) -> AsyncIterator[str]:
    """Rows as a JSON array, streamed."""

    async def body() -> AsyncIterator[str]:
        yield "["
        first = True
        async for row in rows:
            yield ("" if first else ",") + json.dumps(row, default=str)
            first = False
        yield "]"

    return body()
