#!/usr/bin/env bash
# System packages: Fashion-MNIST (Debian's dataset-fashion-mnist), the Pango/fonts that
# WeasyPrint renders with, poppler-utils for looking at PDFs, and chromium, the browser the deck
# tests drive headless (through Playwright, without its browser download). Needs root and
# apt-get; without them the build still works on scikit-learn's digits and says so in the
# outputs, and the browser tests are skipped with a message.
set -u
packages="dataset-fashion-mnist libpango-1.0-0 libpangoft2-1.0-0 libharfbuzz-subset0 fonts-dejavu-core poppler-utils chromium"
if [ -f /usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz ] && command -v pdftoppm >/dev/null \
   && ldconfig -p 2>/dev/null | grep -q libpango-1.0 && command -v chromium >/dev/null; then
  exit 0
fi
if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null; then
  echo "note: not root or no apt-get; install these yourself for Fashion-MNIST, PDFs and the browser tests: $packages" >&2
  exit 0
fi
export DEBIAN_FRONTEND=noninteractive
if ! { apt-get update -qq && apt-get install -y -qq --no-install-recommends $packages >/dev/null; }; then
  # One missing package (chromium on a distribution without it) must not cost the others.
  for package in $packages; do
    apt-get install -y -qq --no-install-recommends "$package" >/dev/null 2>&1 \
      || echo "note: apt-get could not install $package" >&2
  done
fi
exit 0
