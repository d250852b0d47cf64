"""Config: the bot's typed settings as a form built from the library's schema, live.

The form is ``store.bot_config.schema()``: one input per setting, its type,
range and description shown; sensitive values read as the mask, and sending
the mask back keeps the secret. A save sends only the fields this form
changed (each input carries the value it was rendered with), so it never
overwrites a setting another admin changed meanwhile; the library validates
the whole change first (nothing is written on any error) and audits every
changed key with the actor. The page's one stream (``store.bot_config.watch()``,
one listener for every open page) re-renders the fields whenever a setting
changes, unless this form has unsaved edits (app.js then keeps them and says so).
"""

from __future__ import annotations

import math
from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Request
from fastapi.responses import RedirectResponse, Response
from starlette.datastructures import FormData

import firestore_verify as fv
from fsv_dashboard.render import fragment, render
from fsv_dashboard.security import actor_of, check_csrf, current_principal
from fsv_dashboard.services import Services, services
from fsv_dashboard.streams import page_stream

router = APIRouter()

#: Prefix of the hidden inputs that carry the value each field was rendered with.
ORIGINAL = "orig:"
#: Section titles, by the first part of the dotted keys.
SECTIONS = {"messages": "Messages", "rate_limits": "Rate limits", "cache": "Membership cache",
            "logging": "Logging", "webhook": "Webhook"}


def _number(value: float) -> str:
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e15:
        return str(int(value))
    return str(value)


def shown(field: fv.ConfigField, value: Any) -> str:
    """The text an input shows for ``value`` (``""`` for unset)."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float) and field.type in ("number", "integer"):
        return _number(value)
    return str(value)


def range_text(field: fv.ConfigField) -> str:
    """The allowed values of ``field`` in words: bounds, lengths, choices, unset."""
    parts: list[str] = []
    if field.minimum is not None:
        parts.append(f"≥ {_number(field.minimum)}")
    if field.exclusive_minimum is not None:
        parts.append(f"> {_number(field.exclusive_minimum)}")
    if field.maximum is not None:
        parts.append(f"≤ {_number(field.maximum)}")
    if field.exclusive_maximum is not None:
        parts.append(f"< {_number(field.exclusive_maximum)}")
    if field.type == "integer":
        parts.append("whole number")
    if field.min_length is not None or field.max_length is not None:
        parts.append(f"{field.min_length or 0} to {field.max_length or 'any number of'} characters")
    if field.pattern and not field.sensitive:
        parts.append(f"matches {field.pattern}")
    if field.choices:
        parts.append("one of " + ", ".join(field.choices))
    if field.nullable:
        parts.append("empty: unset")
    return "; ".join(parts)


def masked(values: dict[str, Any], schema: fv.ConfigSchema) -> dict[str, Any]:
    """``values`` with every sensitive value that is set replaced by the mask."""
    return {**values, **{f.key: schema.mask for f in schema.settings
                         if f.sensitive and values.get(f.key) is not None}}


def _sections(schema: fv.ConfigSchema) -> list[tuple[str, list[fv.ConfigField]]]:
    grouped: dict[str, list[fv.ConfigField]] = {}
    for field in schema.settings:
        grouped.setdefault(field.key.split(".", 1)[0], []).append(field)
    return [(SECTIONS.get(name, name), fields) for name, fields in grouped.items()]


def _fields(svc: Services, principal: fv.Principal, *, texts: dict[str, str],
            originals: dict[str, str], errors: dict[str, list[str]] | None = None,
            dirty: bool = False) -> str:
    schema = svc.store.bot_config.schema()
    return fragment(svc.templates, "_config_fields.html", principal,
                    sections=_sections(schema), texts=texts, originals=originals,
                    errors=errors or {}, dirty=dirty, range_text=range_text, shown=shown,
                    mask=schema.mask,
                    ORIGINAL=ORIGINAL)


def _texts(values: dict[str, Any], schema: fv.ConfigSchema) -> dict[str, str]:
    return {f.key: shown(f, values.get(f.key)) for f in schema.settings}


def _convert(field: fv.ConfigField, text: str) -> Any:
    """The typed value of an input's text.

    Unparsable text is passed on for the library to name the problem
    (``cache.max_entries: Input should be a valid integer``).
    """
    stripped = text.strip()
    if field.nullable and not stripped:
        return None
    if field.type == "integer":
        try:
            return int(stripped)
        except ValueError:
            return text
    if field.type == "number":
        try:
            number = float(stripped)
        except ValueError:
            return text
        return number if math.isfinite(number) else text
    if field.type == "boolean":
        return {"true": True, "false": False}.get(stripped.lower(), text)
    return text


def changes_of(form: FormData, schema: fv.ConfigSchema) -> tuple[dict[str, Any], dict[str, str]]:
    """What the form changes (typed, by key), and the text of every field sent."""
    changes: dict[str, Any] = {}
    texts: dict[str, str] = {}
    for field in schema.settings:
        raw = form.get(field.key)
        if not isinstance(raw, str):
            continue  # not sent (a read-only form, or a partial post)
        text = raw.replace("\r\n", "\n")
        texts[field.key] = text
        original = form.get(ORIGINAL + field.key)
        if isinstance(original, str) and original.replace("\r\n", "\n") == text:
            continue  # untouched here: keep whatever is stored now
        if field.sensitive and text == schema.mask:
            continue  # the mask sent back keeps the secret
        changes[field.key] = _convert(field, text)
    return changes, texts


def errors_by_key(exc: fv.InvalidInputError,
                  schema: fv.ConfigSchema) -> tuple[dict[str, list[str]], list[str]]:
    """The library's problems (``key: reason``) by setting, and those of no setting."""
    by_key: dict[str, list[str]] = {}
    other: list[str] = []
    keys = [f.key for f in schema.settings]
    for line in exc.errors or [str(exc)]:
        location, _, reason = line.partition(": ")
        key = next((k for k in keys if location == k or location.startswith(k + ".")), None)
        if key is None:
            other.append(line)
        else:
            by_key.setdefault(key, []).append(reason or line)
    return by_key, other


@router.get("/config")
async def config_page(request: Request, notice: str | None = None,
                      svc: Services = Depends(services),
                      principal: fv.Principal = Depends(current_principal)) -> Response:
    """The settings form, with the stored values (secrets masked)."""
    principal.require(fv.Permission.READ_CONFIG)
    schema = svc.store.bot_config.schema()
    texts = _texts(await svc.store.bot_config.get(masked=True), schema)
    return render(request, "config.html", {
        "notice": notice, "fields_html": _fields(svc, principal, texts=texts, originals=texts)})


@router.post("/config", dependencies=[Depends(check_csrf)])
async def save_config(request: Request, svc: Services = Depends(services),
                      principal: fv.Principal = Depends(current_principal)) -> Response:
    """Validate and save the changed fields, audited; on any error save nothing.

    Errors show under their fields with what was typed kept (HTTP 422).
    """
    principal.require(fv.Permission.WRITE_CONFIG)
    schema = svc.store.bot_config.schema()
    form = await request.form()
    changes, texts = changes_of(form, schema)
    try:
        changed = await svc.store.bot_config.update(
            changes, actor=actor_of(request, principal, svc)) if changes else []
    except fv.InvalidInputError as exc:
        by_key, other = errors_by_key(exc, schema)
        current = _texts(await svc.store.bot_config.get(masked=True), schema)
        originals = {key: form.get(ORIGINAL + key) for key in current}
        kept = {key: value if isinstance(value, str) else current[key]
                for key, value in originals.items()}
        return render(request, "config.html", {
            "error": "Nothing was saved: correct the fields marked below."
                     + (" " + "; ".join(other) if other else ""),
            "fields_html": _fields(svc, principal, texts={**current, **texts}, originals=kept,
                                   errors=by_key, dirty=True)}, status_code=422)
    notice = (f"Saved {len(changed)} setting(s): {', '.join(changed)}." if changed
              else "Nothing changed.")
    return RedirectResponse(f"/config?{urlencode({'notice': notice})}", status_code=303)


@router.get("/stream/config")
async def config_stream(svc: Services = Depends(services),
                        principal: fv.Principal = Depends(current_principal)) -> Response:
    """Event ``config``: the form's fields with the current values, whenever one changes."""
    principal.require(fv.Permission.READ_CONFIG)
    schema = svc.store.bot_config.schema()

    async def on_config(config: fv.BotConfig) -> list[tuple[str, str]]:
        texts = _texts(masked(config.flat(), schema), schema)
        return [("config", _fields(svc, principal, texts=texts, originals=texts))]

    return page_stream(svc, {"config": (("bot_config", svc.store.bot_config.watch), on_config)})
