#!/bin/sh
# Fills fuzz/corpus/<target>/ with seeds from herald's own fixtures and, when present, Sentry's
# published payloads in ../shared/fixtures/sentry (read in place, copied only into the
# git-ignored corpus). Run from the repository root or from fuzz/.
set -eu
cd "$(dirname "$0")"
repo=..
shared=$repo/../shared/fixtures/sentry
mkdir -p corpus/sentry_parse corpus/config_load corpus/template_render

# sentry_parse: "<Sentry-Hook-Resource>\n<body>"; an empty first line is the legacy plugin.
for f in "$repo"/tests/fixtures/sentry/*.json "$shared"/integration-platform/*.json \
         "$shared"/legacy-webhooks-plugin/*.json "$shared"/sdk/*; do
    [ -f "$f" ] || continue
    name=$(basename "$f")
    resource=${name%%.*}
    case $resource in legacy*|python-modern|envelope) resource= ;; esac
    { printf '%s\n' "$resource"; cat "$f"; } > "corpus/sentry_parse/$name"
done
cp "$repo"/tests/fixtures/render/hostile.json corpus/sentry_parse/hostile.json.body
{ printf 'event_alert\n'; cat "$repo"/tests/fixtures/render/hostile.json; } > corpus/sentry_parse/hostile.json

# config_load: every example and test config.
for f in "$repo"/config/*.yaml "$repo"/tests/fixtures/configs/*.yaml "$repo"/tests/fixtures/render/*.yaml; do
    [ -f "$f" ] || continue
    cp "$f" "corpus/config_load/$(basename "$(dirname "$f")")-$(basename "$f")"
done

# template_render takes structured input (arbitrary); payload text still makes useful bytes.
for f in "$repo"/tests/fixtures/sentry/*.json "$repo"/tests/fixtures/render/hostile.json; do
    cp "$f" "corpus/template_render/$(basename "$f")"
done
echo "seeded: $(ls corpus/sentry_parse | wc -l) sentry_parse, $(ls corpus/config_load | wc -l) config_load, $(ls corpus/template_render | wc -l) template_render"
