#!/usr/bin/env bash
# Installs the system packages some features need, when missing and apt-get is usable:
#   ffmpeg   - MP3/M4A decoding
#   chromium - the headless browser that tests the HTML report (tests only)
# Otherwise says what will not work. Never fails.
missing=()
command -v ffmpeg >/dev/null 2>&1 || missing+=(ffmpeg)
command -v chromium >/dev/null 2>&1 || missing+=(chromium)
[ ${#missing[@]} -eq 0 ] && exit 0
if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
  echo "installing ${missing[*]} with apt-get ..."
  if (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}") \
      >/tmp/wavegan-apt.log 2>&1; then
    exit 0
  fi
  echo "warning: apt-get could not install ${missing[*]} (see /tmp/wavegan-apt.log)" >&2
fi
for package in "${missing[@]}"; do
  case $package in
    ffmpeg) echo "warning: ffmpeg not found: MP3/M4A files will be skipped and reported as undecodable" >&2 ;;
    chromium) echo "warning: chromium not found: the browser test of the HTML report will be skipped" >&2 ;;
  esac
done
exit 0
