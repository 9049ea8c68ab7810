#!/usr/bin/env python3
"""The baseline: the same Dropbox -> Oomnitza user sync, written the way a
user might script it, with the official `dropbox` SDK and `requests`.

    DROPBOX_TOKEN=... OOMNITZA_TOKEN=... \
        python sync.py --dropbox-url http://127.0.0.1:P --oomnitza-url http://127.0.0.1:Q

List the team (removed members too, as the benchmark's host config does),
map each member to an Oomnitza user record, POST them in batches of 100 to
/api/v3/bulk under one portion, then finalize the portion. Sequential, no
threads: what a straightforward script does. Prints one JSON line with the
counts and the wall time.

How the SDK reaches the fake: the SDK (12.x) builds every URL as
"https://" + host + "/2/<route>" (DropboxBase._get_route_url hard-codes the
scheme; the host can only be renamed, via DROPBOX_API_HOST or _host_map),
while the fake Dropbox speaks plain http on 127.0.0.1. Rather than patch the
SDK, the script hands it its own requests Session (the SDK's documented
`session=` parameter) on which an adapter is mounted for the prefix
"https://api.dropboxapi.com/": it rewrites each request's URL to the fake's
origin before sending, like a forwarding proxy. Everything above the
transport (argument serialization, stone validation and deserialization of
each page, error handling and retries) is the SDK's own code, unchanged. The
oomnitza-connect host does the same thing: its config's `source.url` says
where https://api.dropboxapi.com is served.
"""

import argparse
import json
import os
import sys
import time
import uuid

import dropbox
import requests
from requests.adapters import HTTPAdapter

DROPBOX_API_ORIGIN = "https://api.dropboxapi.com"
BATCH_SIZE = 100
CONNECTOR_NAME = "Dropbox Users"
ROLE_ID = 25


class ServeOriginFrom(HTTPAdapter):
    """Sends requests for DROPBOX_API_ORIGIN to another origin (the fake)."""

    def __init__(self, origin, **kwargs):
        super().__init__(**kwargs)
        self.origin = origin.rstrip("/")

    def send(self, request, **kwargs):
        if request.url.startswith(DROPBOX_API_ORIGIN + "/"):
            request.url = self.origin + request.url[len(DROPBOX_API_ORIGIN):]
        return super().send(request, **kwargs)


def dropbox_client(token, url):
    if url is None:
        return dropbox.DropboxTeam(oauth2_access_token=token)
    session = dropbox.create_session()
    session.mount(DROPBOX_API_ORIGIN + "/", ServeOriginFrom(url))
    return dropbox.DropboxTeam(oauth2_access_token=token, session=session)


def list_members(dbx):
    """Yields every member of the team, page after page."""
    result = dbx.team_members_list_v2(limit=1000, include_removed=True)
    yield from result.members
    while result.has_more:
        result = dbx.team_members_list_continue_v2(result.cursor)
        yield from result.members


def to_record(member):
    profile = member.profile
    return {
        "USER": profile.email,
        "EMAIL": profile.email,
        "FIRST_NAME": profile.name.given_name,
        "LAST_NAME": profile.name.surname,
        "PERMISSIONS_ID": ROLE_ID,
        "dropbox_user_id": profile.team_member_id,
    }


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--dropbox-url", help="where https://api.dropboxapi.com is served")
    parser.add_argument("--oomnitza-url", required=True)
    args = parser.parse_args()
    dropbox_token = os.environ["DROPBOX_TOKEN"]
    oomnitza_token = os.environ["OOMNITZA_TOKEN"]

    started = time.monotonic()
    dbx = dropbox_client(dropbox_token, args.dropbox_url)
    oomnitza = requests.Session()
    oomnitza.headers.update({"Authorization2": oomnitza_token})
    bulk_url = args.oomnitza_url.rstrip("/") + "/api/v3/bulk"
    portion = str(uuid.uuid4())

    def send(records):
        body = {
            "connector_name": CONNECTOR_NAME,
            "portion": portion,
            "data_type": "users",
            "sync_field": ["EMAIL"],
            "insert_only": False,
            "update_only": False,
            "test_run": False,
            "records": records,
            "error": None,
        }
        response = oomnitza.post(bulk_url, json=body, timeout=60)
        response.raise_for_status()

    members = batches = 0
    batch = []
    for member in list_members(dbx):
        members += 1
        batch.append(to_record(member))
        if len(batch) == BATCH_SIZE:
            send(batch)
            batches += 1
            batch = []
    if batch:
        send(batch)
        batches += 1
    response = oomnitza.post(f"{bulk_url}/{portion}/finalize", json={}, timeout=60)
    response.raise_for_status()

    elapsed = time.monotonic() - started
    print(json.dumps({"members": members, "batches": batches, "portion": portion,
                      "seconds": round(elapsed, 3)}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
