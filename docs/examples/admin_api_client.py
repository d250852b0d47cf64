"""Calling the admin API as a script or another service would: a bearer ID token, JSON back."""

from __future__ import annotations

from typing import Any

import httpx


# --8<-- [start:client]
async def main(api: httpx.AsyncClient, id_token: str) -> dict[str, Any]:
    """Sign in with an ID token, read the dashboard, search and change groups, read the audit."""
    auth = {"Authorization": f"Bearer {id_token}"}
    me = (await api.get("/api/v1/auth/me", headers=auth)).json()
    print(f"signed in as {me['email']} ({me['role']})")

    stats = (await api.get("/api/v1/dashboard/stats", headers=auth)).json()
    print(f"{stats['total_groups']} protected groups, "
          f"{stats['today']['total']} verifications today")

    page = (await api.get("/api/v1/groups", params={"q": "crypto"}, headers=auth)).json()
    print("groups:", [group["title"] for group in page["items"]])

    changed = await api.patch(f"/api/v1/groups/{page['items'][0]['id']}",
                              json={"enabled": False}, headers=auth)
    print("disabled:", changed.json()["group"]["enabled"] is False)

    audit = (await api.get("/api/v1/audit", headers=auth)).json()
    print("audit:", [entry["action"] for entry in audit["items"]])

    problem = await api.get("/api/v1/groups/-1999", headers=auth)
    print(problem.status_code, problem.headers["content-type"], problem.json()["title"])
    return {"me": me, "stats": stats, "audit": audit["items"]}
# --8<-- [end:client]
