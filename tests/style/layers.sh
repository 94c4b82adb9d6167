#!/bin/bash
# The layers call one way: cli -> fuse, tools -> store -> fs (log, status,
# secrets, mountinfo) -> keysrc -> crypto. Every #include "x.h" of a source
# file is looked up among the project's directories; one that reaches a
# layer its directory may not use fails the test, naming the line.
set -u
src=${SRCDIR:-$(cd "$(dirname "$0")/../.." && pwd)}
cd "$src" || exit 1

# Directory -> the directories it may include from besides its own.
declare -A may=(
	[crypto]=""
	[keysrc]="crypto"
	[fs]="keysrc crypto"
	[fs/store]="fs keysrc crypto"
	[fs/fuse]="fs/store fs keysrc crypto"
	[fs/tools]="fs/store fs keysrc crypto"
	[fs/cli]="fs/fuse fs/tools fs/store fs keysrc crypto"
)
# Where each header lives; two headers of one name would be ambiguous
# on the shared include path.
declare -A home=()
bad=0
for d in "${!may[@]}"; do
	for h in "$d"/*.h; do
		[ -e "$h" ] || continue
		b=${h##*/}
		if [ -n "${home[$b]:-}" ]; then
			echo "layers: $h: a second $b (also in ${home[$b]})"
			bad=1
		fi
		home[$b]=$d
	done
done
for d in "${!may[@]}"; do
	for f in "$d"/*.[ch]; do
		[ -e "$f" ] || continue
		while IFS=: read -r line inc; do
			h=${inc#*\"}
			h=${h%\"*}
			to=${home[$h]:-}
			[ -z "$to" ] || [ "$to" = "$d" ] && continue
			case " ${may[$d]} " in
			*" $to "*) ;;
			*)
				echo "layers: $f:$line: includes $to/$h, but $d may use only: ${may[$d]:-nothing}"
				bad=1
				;;
			esac
		done < <(grep -n '^#include "' "$f")
	done
done
[ "$bad" = 0 ] && echo "layers: ok (${#home[@]} headers in ${#may[@]} directories)"
exit "$bad"
