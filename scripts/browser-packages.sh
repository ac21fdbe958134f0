#!/bin/bash
# scripts/browser-packages.sh: install, with apt-get, the headless Chromium the HTML report's test renders
# plan.yml's page in (tests/integration/test_plan_report_browser.py), if it is missing. Debian's
# chromium-headless-shell, without recommends: 18 packages, nothing upgraded. Idempotent: a second run
# only checks (dpkg-query).
set -euo pipefail
pkgs=(chromium-headless-shell fonts-dejavu-core)
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0
echo "[browser] installing host packages: ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -q >/dev/null
apt-get install -y -q --no-install-recommends "${missing[@]}" >/dev/null
