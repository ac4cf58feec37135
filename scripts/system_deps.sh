#!/usr/bin/env bash
# Installs the Debian packages that the orthanc and browser tests need (Orthanc, Chromium).
# Skips quietly when they are present. Outside CI, tests that need them skip with a reason if this fails;
# in CI (CI=true) a failed install fails the run, since those tests must run there.
set -u
need=()
command -v Orthanc >/dev/null 2>&1 || need+=(orthanc)
dpkg -s orthanc-dicomweb >/dev/null 2>&1 || need+=(orthanc-dicomweb)
command -v chromium >/dev/null 2>&1 || need+=(chromium)
command -v dciodvfy >/dev/null 2>&1 || need+=(dicom3tools)  # DICOM SR/SC validation (tests/deliver/test_dicom_out.py)
command -v wrk >/dev/null 2>&1 || need+=(wrk)  # REST API load benchmark (benchmarks/api_bench.py)
command -v ip >/dev/null 2>&1 || need+=(iproute2)  # brings up loopback in the Orthanc test's network namespace
if [ ${#need[@]} -gt 0 ] && [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
  echo "installing system packages: ${need[*]}"
  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}") >/tmp/cxrkit-apt.log 2>&1 \
    || { echo "warning: apt-get install failed (see /tmp/cxrkit-apt.log); orthanc/browser tests will skip"; tail -20 /tmp/cxrkit-apt.log; [ "${CI:-}" = "true" ] && exit 1; }
fi
exit 0
