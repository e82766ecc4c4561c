#!/usr/bin/env bash
# System packages: Fashion-MNIST (Debian's dataset-fashion-mnist), the Pango/fonts that
# WeasyPrint renders with, and poppler-utils for looking at PDFs. Noto CJK and Noto Color Emoji
# are the fallbacks after DejaVu in the CSS, so Chinese, Japanese, Korean and emoji in a title or
# write-up print as glyphs, not empty boxes. Needs root and apt-get; without them the build still
# works on scikit-learn's digits and says so in the outputs.
set -u
packages="dataset-fashion-mnist libpango-1.0-0 libpangoft2-1.0-0 libharfbuzz-subset0 fonts-dejavu-core poppler-utils"
fonts="fonts-noto-cjk fonts-noto-color-emoji"
has_fonts() { fc-list 2>/dev/null | grep -q "Noto Sans CJK" && fc-list 2>/dev/null | grep -q "Noto Color Emoji"; }
if [ -f /usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz ] && command -v pdftoppm >/dev/null \
   && ldconfig -p 2>/dev/null | grep -q libpango-1.0 && has_fonts; then
  exit 0
fi
if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null; then
  echo "note: not root or no apt-get; install these yourself for Fashion-MNIST and PDFs: $packages $fonts" >&2
  exit 0
fi
export DEBIAN_FRONTEND=noninteractive
if ! { apt-get update -qq && apt-get install -y -qq --no-install-recommends $packages >/dev/null; }; then
  echo "note: apt-get could not install $packages; builds fall back to scikit-learn's digits" >&2
fi
# Separately: a machine without these fonts still builds; CJK text and emoji then print as boxes.
if ! apt-get install -y -qq --no-install-recommends $fonts >/dev/null; then
  echo "note: apt-get could not install $fonts; Chinese/Japanese/Korean text and emoji print as empty boxes in PDFs" >&2
fi
exit 0
