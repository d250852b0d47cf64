#!/usr/bin/env bash
# The cutover steps of docs/migrate.md, as one script the tests run.
#
#   SOURCE_URL=sqlite:////srv/bot/bot.db FIREBASE_PROJECT_ID=my-bot bash docs/examples/migrate_cutover.sh
#
# Exit codes of firestore-verify: 0 ok, 1 failure or drift, 2 usage or
# configuration, 3 migrated but some rows were reported bad.
set -euo pipefail

# --8<-- [start:dry-run]
# 1. Rehearse: read both sides, write nothing, list the bad rows.
firestore-verify migrate --from "$SOURCE_URL" --dry-run --report dry-run.json \
    || [ $? -eq 3 ]
# --8<-- [end:dry-run]

# --8<-- [start:migrate]
# 2. Migrate (re-run it as often as you like: what is already there is left alone).
firestore-verify migrate --from "$SOURCE_URL" --report migration-report.json \
    || [ $? -eq 3 ]
# --8<-- [end:migrate]

# --8<-- [start:check]
# 3. Stop the old bot, migrate the last rows, and prove nothing is missing.
firestore-verify migrate --from "$SOURCE_URL" --report final-report.json --quiet \
    || [ $? -eq 3 ]
firestore-verify check --from "$SOURCE_URL" --report check-report.json
# --8<-- [end:check]
