#!/usr/bin/env bash
# Installs the components the key-source tests run against (docs/keys.md,
# docs/testing.md): go-ethereum's clef (the external signer) and local-kms
# (an AWS KMS emulator), built from the Go module proxy into a cache folder
# and kept there, and GNOME Keyring with D-Bus (the Secret Service of the OS
# keychain) from Debian's packages. .ci/run runs it; run it once by hand to
# run those tests locally (without it they skip, naming this script).
#
# The folder is $X402_TOOLS_DIR, else x402-mcp/tools in the user's cache
# folder (${XDG_CACHE_HOME:-~/.cache}/x402-mcp/tools), where the tests look
# (internal/keytest). A tool already built at the pinned version is not
# built again: clef takes about 5 minutes to build on 2 cores.
set -euo pipefail

CLEF_VERSION=v1.17.0
LOCAL_KMS_VERSION=v0.0.0-20260228092603-2a5e92d09ab6

dir=${X402_TOOLS_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/x402-mcp/tools}
mkdir -p "$dir"

# build NAME MODULE/PATH VERSION MODULE: go install into $dir, unless the
# binary there was built from MODULE at VERSION.
build() {
  local name=$1 pkg=$2 version=$3 module=$4
  if [ -x "$dir/$name" ] && go version -m "$dir/$name" 2>/dev/null | grep -Eq "^[[:space:]]+mod[[:space:]]+$module[[:space:]]+$version([[:space:]]|$)"; then
    echo "$name $version: already built in $dir"
    return
  fi
  echo "$name $version: building into $dir"
  local start=$SECONDS
  GOBIN="$dir" go install -trimpath "$pkg@$version"
  echo "$name $version: built in $((SECONDS - start))s"
}

packages() {
  if command -v gnome-keyring-daemon >/dev/null && command -v dbus-run-session >/dev/null && command -v secret-tool >/dev/null; then
    echo "gnome-keyring, dbus, libsecret-tools: installed"
  elif [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    echo "gnome-keyring, dbus, libsecret-tools: installing"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends gnome-keyring dbus libsecret-tools >/dev/null
  else
    echo "error: install the Debian packages gnome-keyring, dbus and libsecret-tools (as root: apt-get install gnome-keyring dbus libsecret-tools)" >&2
    exit 1
  fi
}

# What to do: packages, build, or (no argument) both. .ci/run installs the
# packages first, then builds in the background while it does other work.
builds() {
  build clef github.com/ethereum/go-ethereum/cmd/clef "$CLEF_VERSION" github.com/ethereum/go-ethereum
  build local-kms github.com/nsmithuk/local-kms "$LOCAL_KMS_VERSION" github.com/nsmithuk/local-kms
}

case "${1:-all}" in
  packages) packages ;;
  build) builds ;;
  all)
    packages
    builds
    ;;
  *) echo "usage: $0 [packages|build]" >&2; exit 2 ;;
esac
