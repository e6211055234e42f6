#!/bin/sh
# uname for the lab's centos5 host: reports the CentOS 5.11 kernel (2.6.18-419.el5), the
# way /proc/version and /proc/sys/kernel/osrelease do there. Hostname from the UTS namespace.
s=Linux
n=$(cat /proc/sys/kernel/hostname)
r=2.6.18-419.el5
v='#1 SMP Fri Feb 24 22:47:42 UTC 2017'
m=x86_64
o=GNU/Linux
out=
add() { out="${out:+$out }$1"; }
flags=
for arg in "$@"; do
  case "$arg" in
    --help) echo "Usage: uname [OPTION]..."; exit 0 ;;
    --version) echo "uname (GNU coreutils) 5.97"; exit 0 ;;
    --kernel-name) flags="${flags}s" ;;
    --nodename) flags="${flags}n" ;;
    --kernel-release) flags="${flags}r" ;;
    --kernel-version) flags="${flags}v" ;;
    --machine) flags="${flags}m" ;;
    --all) flags="${flags}a" ;;
    --operating-system) flags="${flags}o" ;;
    --*) echo "uname: unrecognized option \`$arg'" >&2; exit 1 ;;
    -*) flags="$flags${arg#-}" ;;
    *) echo "uname: extra operand \`$arg'" >&2; exit 1 ;;
  esac
done
[ -n "$flags" ] || flags=s
case "$flags" in *a*) flags=snrvmpio ;; esac
case "$flags" in *s*) add "$s" ;; esac
case "$flags" in *n*) add "$n" ;; esac
case "$flags" in *r*) add "$r" ;; esac
case "$flags" in *v*) add "$v" ;; esac
case "$flags" in *m*) add "$m" ;; esac
case "$flags" in *p*) add "$m" ;; esac
case "$flags" in *i*) add "$m" ;; esac
case "$flags" in *o*) add "$o" ;; esac
echo "$out"
