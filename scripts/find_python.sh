#!/usr/bin/env bash
# Prints a Python 3.10 interpreter: python3.10 on PATH, else pyenv's 3.10.x.
set -u
if command -v python3.10 >/dev/null 2>&1 && python3.10 -c 'import sys' >/dev/null 2>&1; then
  command -v python3.10; exit 0
fi
if command -v pyenv >/dev/null 2>&1; then
  version=$(pyenv versions --bare 2>/dev/null | grep -E '^3\.10\.[0-9]+$' | sort -V | tail -n 1)
  if [ -n "$version" ]; then
    echo "$(pyenv prefix "$version")/bin/python3.10"; exit 0
  fi
fi
echo "error: Python 3.10 is required (TFX 1.16 supports 3.9-3.10). Install it, e.g. 'pyenv install 3.10' or 'apt-get install python3.10', then re-run." >&2
exit 1
