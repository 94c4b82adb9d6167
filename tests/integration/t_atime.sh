#!/usr/bin/env bash
# Access times (jetcryptfs.1, "Access times"). The daemon's own reads --
# the header at open and at stat, the blocks around a partial write or a
# truncate -- never change a file's atime. A read that reaches the daemon
# changes it by the relatime rule: when it is not later than the
# modification and change times (or a day old); not again after that, and
# never for an O_NOATIME reader. -o noatime: reads never change it, and
# the kernel's mount says noatime; -o nodiratime: listing a directory
# does not either; -o strictatime is refused with what to use instead;
# relatime, norelatime, nostrictatime and diratime are the default.
# Checked on the backing files, whose times the mount shows.
. "$(dirname "$0")/lib.sh"

B=$JC_TMP/b M=$JC_TMP/m
OLD="2001-01-01 00:00:00"
old=$(date -d "$OLD" +%s)

atime() { stat -c %.9X "$B/$1"; }
# set_old NAME: an atime of 2001 through the mount (the ctime is now, so
# the relatime rule lets the next read update it).
set_old() {
	touch -a -d "$OLD" "$M/$1"
	[ "$(stat -c %X "$B/$1")" = "$old" ] || fail "touch -a did not reach the backing file of $1"
}
expect_atime() { # NAME WANT WHAT
	[ "$(atime "$1")" = "$2" ] || fail "$3: the atime of $1 is $(atime "$1"), want $2"
}
expect_old() { # NAME WHAT
	[ "$(stat -c %X "$B/$1")" = "$old" ] ||
		fail "$2 changed the atime of $1 (now $(stat -c %x "$B/$1"))"
}
expect_new() { # NAME SINCE WHAT: the atime is SINCE (seconds) or later
	[ "$(stat -c %X "$B/$1")" -ge "$2" ] || fail "$3 did not update the atime of $1 ($(stat -c %x "$B/$1"))"
}
direct_read() { dd if="$M/$1" of=/dev/null bs=4096 count=1 iflag=direct${2:+,$2} status=none; }

jc_mount "$B" "$M"
seq 1 20000 >"$M/f"
mkdir "$M/d"
touch "$M/d/x"
set_old f
jc_umount "$M"

# ---- default: relatime ----
jc_mount "$B" "$M"
stat "$M/f" >/dev/null          # a fresh mount reads the header for the size
expect_old f "stat"
: <"$M/f"
exec 3<"$M/f"
exec 3<&-
expect_old f "opening without reading"
t0=$(date +%s)
cat "$M/f" >/dev/null
expect_new f "$t0" "reading"
a1=$(atime f)
[ "$(stat -c %.9X "$M/f")" = "$a1" ] || fail "the mount shows atime $(stat -c %.9X "$M/f"), the backing file $a1"
sleep 1.1
direct_read f
expect_atime f "$a1" "a second read, with the atime already later than the modification (relatime)"
echo more >>"$M/f"
sleep 1.1
t1=$(date +%s)
direct_read f
expect_new f "$t1" "a read after a write (relatime)"
ok "relatime: stat and open leave atime alone, a read updates it, the next does not, one after a write does"

set_old f
dd if=/dev/zero of="$M/f" bs=100 seek=3 count=1 conv=notrunc oflag=direct status=none
truncate -s 5000 "$M/f"
expect_old f "a partial-block write and a truncate (the daemon reads the blocks around them)"
direct_read f noatime
expect_old f "an O_NOATIME read"
ok "writes, truncates and O_NOATIME readers leave atime alone"

touch -a -d "$OLD" "$M/d"
ls "$M/d" >/dev/null
[ "$(stat -c %X "$B/d")" -gt "$old" ] || fail "listing a directory did not update its atime"
jc_umount "$M"

# ---- noatime, nodiratime ----
jc_mount "$B" "$M" -o noatime
grep -q noatime <<<"$(awk -v m="$M" '$2 == m { print $4 }' /proc/self/mounts)" ||
	fail "-o noatime is not on the kernel's mount"
set_old f
cat "$M/f" >/dev/null
direct_read f
touch -a -d "$OLD" "$M/d"
ls "$M/d" >/dev/null
expect_old f "a read with -o noatime"
expect_old d "listing a directory with -o noatime"
jc_umount "$M"
ok "noatime: no read changes atime, and the kernel's mount says noatime"

jc_mount "$B" "$M" -o nodiratime,relatime,norelatime,nostrictatime
touch -a -d "$OLD" "$M/d"
ls "$M/d" >/dev/null
expect_old d "listing a directory with -o nodiratime"
set_old f
t0=$(date +%s)
cat "$M/f" >/dev/null
expect_new f "$t0" "reading with -o nodiratime"
jc_umount "$M"
ok "nodiratime: listing a directory leaves its atime alone, reading a file does not; relatime and friends accepted"

# ---- strictatime: refused ----
expect_exit 2 "$JCFS" mount -o strictatime "$B" "$M"
expect_output_contains "strictatime cannot be honoured"
expect_output_contains "use relatime (the default) or noatime"
[ "$(wc -l <<<"$JC_OUTPUT")" = 1 ] || fail "the refusal is not one line: $JC_OUTPUT"
jc_is_mounted "$M" && fail "-o strictatime mounted"
ok "strictatime: refused in one line that says what to use"
