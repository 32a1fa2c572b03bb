#!/bin/bash
# bench/archive/timed.sh COMMAND...: runs COMMAND and writes "wall N ms" to stderr (the server log when it is
# archive_command): the time from before its fork and exec to its exit, so the dynamic loading of the
# program's libraries counts, which the duration wal-push logs of itself leaves out. Exit status: COMMAND's.
start=$EPOCHREALTIME
"$@"
rc=$?
end=$EPOCHREALTIME
echo "wall $(( (${end/./} - ${start/./}) / 1000 )).$(( (${end/./} - ${start/./}) % 1000 / 100 )) ms" >&2
exit $rc
