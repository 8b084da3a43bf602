#!/usr/bin/env bash
# Download GraphiQL's pinned assets again (web/graphiql/vendor/assets.txt: file, package@version,
# path in the package, sha256) with `npm pack`, check each file's sha256 against the list and
# write it to web/graphiql/vendor/. Only for refreshing or upgrading them: `make run` serves the
# committed files and needs no npm.
#
#   scripts/graphiql-assets.sh            download, check, write (fails on any other sum)
#   scripts/graphiql-assets.sh --update   after changing a version in the list: record the
#                                         new sums in it (then review the diff and test)
set -euo pipefail
cd "$(dirname "$0")/.."
vendor=web/graphiql/vendor
list=$vendor/assets.txt
update=false
case "${1:-}" in
  --update) update=true ;;
  "") ;;
  *) echo "usage: $0 [--update]" >&2; exit 2 ;;
esac
command -v npm >/dev/null || { echo "npm is needed to download the assets" >&2; exit 1; }

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

unpacked() {  # the folder holding package@version's files, packed and unpacked once
  local dir
  dir="$work/$(printf '%s' "$1" | tr '/@' '__')"
  if [ ! -d "$dir" ]; then
    mkdir -p "$dir"
    (cd "$dir" && tarball=$(npm pack --silent "$1") && tar xzf "$tarball")
  fi
  printf '%s/package' "$dir"
}

failed=0
while IFS= read -r line; do
  case "$line" in '' | '#'*) printf '%s\n' "$line"; continue ;; esac
  read -r file package path sum <<<"$line"
  source="$(unpacked "$package")/$path"
  actual=$(sha256sum "$source" | cut -d' ' -f1)
  if [ "$actual" != "$sum" ] && [ "$update" = false ]; then
    echo "$file ($package $path): sha256 $actual, the list says $sum" >&2
    failed=1
    continue
  fi
  cp "$source" "$vendor/$file"
  printf '%-28s %-33s %-32s %s\n' "$file" "$package" "$path" "$actual"
done <"$list" >"$work/list"

[ "$failed" = 0 ] || exit 1
if [ "$update" = true ]; then
  cp "$work/list" "$list"
fi
echo "GraphiQL assets in $vendor match $list" >&2
