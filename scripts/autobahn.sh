#!/usr/bin/env bash
# Autobahn|Testsuite's `wstest`, the WebSocket conformance suite (tests/test_autobahn.py).
#
#   scripts/autobahn.sh install        installs it if it is not there yet (idempotent)
#   scripts/autobahn.sh ARGS...        installs it if needed, then runs `wstest ARGS...`
#
# Its last release that runs, 0.8.2, needs Python 2.7 (25.10.1 still does not import on
# Python 3): it goes with 2.7's pip into the user's cache (~/.cache/trado/autobahn/, kept
# between clones, as CI's are), with every
# dependency pinned to the last release that supports 2.7, and runs once that folder is added
# with `site.addsitedir`, which zope's namespace package needs. Python 2.7 is found as
# $PYTHON27, else `python2.7` on the PATH, else pyenv's 2.7.
set -euo pipefail

ROOT="$(cd "$(dirname "$0")/.." && pwd)"
HOME_DIR="${XDG_CACHE_HOME:-$HOME/.cache}/trado/autobahn"
SITE="$HOME_DIR/site"
PINS=(
  autobahntestsuite==0.8.2 autobahn==0.10.9 Twisted==20.3.0 zope.interface==5.5.2
  txaio==2.1.0 wsaccel==0.6.6 ujson==2.0.3 six==1.17.0 klein==20.6.0 Werkzeug==1.0.1
  Tubes==0.2.1 jinja2==2.11.3 markupsafe==1.1.1 pyopenssl==21.0.0 cryptography==3.3.2
  cffi==1.15.1 pycparser==2.21 enum34==1.1.10 ipaddress==1.0.23 service-identity==21.1.0
  pyasn1==0.5.1 pyasn1-modules==0.3.0 attrs==21.4.0 Automat==22.10.0 constantly==15.1.0
  incremental==22.10.0 hyperlink==21.0.0 idna==2.10 typing==3.10.0.0 PyHamcrest==1.10.1
  unittest2==1.1.0 traceback2==1.4.0 linecache2==1.0.0 argparse==1.4.0 setuptools==44.1.1
)

python27() {
  local candidate
  for candidate in "${PYTHON27:-}" "${PYENV_ROOT:-$HOME/.pyenv}"/versions/2.7.*/bin/python \
    "$(command -v python2.7 || true)"; do
    if [[ -x "$candidate" ]] && "$candidate" -c 'import sys; assert sys.version_info[:2] == (2, 7)' 2>/dev/null; then
      echo "$candidate"
      return 0
    fi
  done
  echo "autobahn.sh: Autobahn|Testsuite needs Python 2.7, and none was found." >&2
  echo "  Install it with 'pyenv install 2.7.18', or set PYTHON27 to its interpreter." >&2
  return 1
}

install() {
  local python="$1" wanted
  wanted="$(printf '%s\n' "${PINS[@]}")"
  if [[ -f "$HOME_DIR/installed" && "$(cat "$HOME_DIR/installed")" == "$wanted" ]]; then
    return 0
  fi
  echo "autobahn.sh: installing Autobahn|Testsuite 0.8.2 into $SITE" >&2
  rm -rf "$SITE.partial" "$SITE" "$HOME_DIR/installed"
  mkdir -p "$HOME_DIR"
  if ! "$python" -m pip install --quiet --disable-pip-version-check --no-warn-script-location \
    --target "$SITE.partial" "${PINS[@]}" >&2; then
    echo "autobahn.sh: installing Autobahn|Testsuite failed (see above). It needs Python 2.7" >&2
    echo "  with pip, a C compiler (wsaccel, zope.interface) and PyPI; then run" >&2
    echo "  'scripts/autobahn.sh install' again." >&2
    return 1
  fi
  mv "$SITE.partial" "$SITE"
  echo "$wanted" >"$HOME_DIR/installed"
}

PYTHON="$(python27)"
install "$PYTHON"
[[ "${1:-}" == "install" ]] && exit 0
exec "$PYTHON" -W ignore -c \
  'import site, sys; site.addsitedir(sys.argv.pop(1)); from autobahntestsuite.wstest import run; sys.exit(run())' \
  "$SITE" "$@"
