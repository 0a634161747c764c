#!/bin/sh
# The main job: build mandate and run the quickstart story.
#
# Today mandate's Cedar engine is what is built: the story decides the
# quickstart's tool calls (examples/quickstart) one by one with
# `mandate cedar authorize` and shows each decision, its reasons and errors.
set -eu
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"
sh scripts/deps.sh --runtime-only
make -j"$(nproc 2>/dev/null || echo 2)" all >/dev/null
q=examples/quickstart
echo "mandate quickstart: an agent task (Task::\"t-1\", on behalf of alice) calls tools"
echo "policies: $q/policies.cedar   schema: $q/schema.cedarschema"
echo
for r in "$q"/requests/*.json; do
    name=$(basename "$r" .json)
    out=$(build/mandate cedar authorize --policies "$q/policies.cedar" --entities "$q/entities.json" \
        --schema "$q/schema.cedarschema" --request "$r") && rc=0 || rc=$?
    case $rc in
    0) verdict=ALLOW ;;
    2) verdict=DENY ;;
    *) echo "$name: error (exit $rc)"; exit 1 ;;
    esac
    printf '%-28s %-5s %s\n' "$name" "$verdict" "$out"
done
