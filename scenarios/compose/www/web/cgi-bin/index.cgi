#!/bin/sh
# The compose scenario's web service: answers with what it reads from api and db over the project network,
# by their service names (nc: the static busybox's wget crashes resolving through glibc's NSS).
get() { printf 'GET %s HTTP/1.0\r\n\r\n' "$3" | nc -w 2 "$1" "$2" | tail -n 1; }
echo "Content-Type: text/plain"
echo
echo "web: ok ${GREETING:-}"
echo "api: $(get api 8080 /index.html)"
echo "db: boots=$(get db 7000 /boots)"
