#!/usr/bin/env bash
# System packages that the build and the tests use, from Debian (needs root and apt-get). Each
# group is installed on its own, so a package missing from a distribution costs only what needs
# it; the script always exits 0: the build falls back to scikit-learn's digits without the data
# package and says so, and a test that needs a missing component is skipped, saying why.
set -u
groups=(
  "dataset-fashion-mnist"                                      # the embedded default data
  "libpango-1.0-0 libpangoft2-1.0-0 libharfbuzz-subset0 fonts-dejavu-core poppler-utils"  # PDFs; pdftoppm, pdffonts
  "fonts-noto-cjk fonts-noto-color-emoji"                      # Chinese/Japanese/Korean and emoji glyphs in PDFs
  "chromium"                                                   # the browser the deck's tests drive headless
  "libreoffice-impress"                                        # converts deck.pptx to PDF in its test
  "latexmk texlive-latex-recommended texlive-latex-extra lmodern"  # compiles output/latex (booktabs; lmodern: outline fonts)
  "slurm-wlm munge"                                            # a one-node Slurm cluster for the executor tests
)
missing=()
for group in "${groups[@]}"; do
  for package in $group; do
    dpkg -s "$package" >/dev/null 2>&1 || missing+=("$package")
  done
done
[ ${#missing[@]} -eq 0 ] && exit 0
if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null; then
  echo "note: not root or no apt-get; install these yourself (Debian names): ${missing[*]}" >&2
  exit 0
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq || echo "note: apt-get update failed; trying the package lists there are" >&2
for group in "${groups[@]}"; do
  apt-get install -y -qq --no-install-recommends $group >/dev/null 2>&1 && continue
  for package in $group; do
    apt-get install -y -qq --no-install-recommends "$package" >/dev/null 2>&1 \
      || echo "note: apt-get could not install $package" >&2
  done
done
exit 0
