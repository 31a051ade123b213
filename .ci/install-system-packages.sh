#!/usr/bin/env bash
# Installs the system packages the integration tests need (PostgreSQL, PgBouncer) from apt, for
# .ci/run and the GitHub Actions workflow alike. A no-op when both are already there; a package
# that does not install fails the script. Services stay stopped: the tests start their own servers.
set -euo pipefail

# Empty on a real machine; tests/tooling points it at a scratch tree (with apt-get etc. stubbed).
root="${SYSTEM_ROOT:-}"
policy="$root/usr/sbin/policy-rc.d"

need_pkgs=()
ls "$root"/usr/lib/postgresql/*/bin/postgres >/dev/null 2>&1 || need_pkgs+=(postgresql)
command -v pgbouncer >/dev/null 2>&1 || [ -x "$root/usr/sbin/pgbouncer" ] || need_pkgs+=(pgbouncer)
if [ ${#need_pkgs[@]} -eq 0 ]; then
  echo "System packages: PostgreSQL and PgBouncer already installed"
  exit 0
fi
command -v apt-get >/dev/null 2>&1 || {
  echo "need ${need_pkgs[*]} but apt-get is not available: install them with your package manager" >&2
  exit 1
}

echo "Installing ${need_pkgs[*]} (apt)"
export DEBIAN_FRONTEND=noninteractive
sudo_cmd=()
[ "$(id -u)" -eq 0 ] || sudo_cmd=(sudo)
"${sudo_cmd[@]}" apt-get update -qq
# The packages' scripts would start system services; tell invoke-rc.d not to (policy-rc.d exit
# 101), and only for the length of the install.
if [ ! -e "$policy" ]; then
  printf '#!/bin/sh\nexit 101\n' | "${sudo_cmd[@]}" tee "$policy" >/dev/null
  "${sudo_cmd[@]}" chmod +x "$policy"
  trap '"${sudo_cmd[@]}" rm -f "$policy"' EXIT
fi
# Not fatal here: the check below names the package that is missing.
"${sudo_cmd[@]}" apt-get install -y -qq --no-install-recommends "${need_pkgs[@]}" || true
for p in "${need_pkgs[@]}"; do
  dpkg -s "$p" >/dev/null 2>&1 || { echo "failed to install $p" >&2; exit 1; }
done
