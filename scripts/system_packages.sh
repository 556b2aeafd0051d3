#!/usr/bin/env bash
# Installs the system libraries some formats need (ffmpeg: MP3/M4A decoding) when
# missing and apt-get is usable; otherwise says what will not work. Never fails.
if command -v ffmpeg >/dev/null 2>&1; then exit 0; fi
if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
  echo "installing ffmpeg (MP3 decoding) with apt-get ..."
  if (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq ffmpeg) >/tmp/wavegan-apt.log 2>&1; then
    exit 0
  fi
  echo "warning: apt-get could not install ffmpeg (see /tmp/wavegan-apt.log)" >&2
fi
echo "warning: ffmpeg not found: MP3/M4A files will be skipped and reported as undecodable" >&2
exit 0
