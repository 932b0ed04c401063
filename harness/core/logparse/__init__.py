"""Device log text and records → `Event`s: what the log says happened to background tasks.

One module per seam: `containers` (lines → records), `endings` (how processes end: reasons),
`rules` (message forms by family), `triggers` (the pre-filter), `recognise` (record → events),
`query` (choosing events), `fastpath` (byte blocks, counting).

Pure: standard library only, no I/O beyond iterating what it is given (lines, byte blocks,
records).

Containers. `read_entries` turns lines into `LogEntry`s. It knows, line by line:

- `pymobiledevice3 syslog live` (`LogEntry.syslog_line`), with or without `--label` and
  `--image-offset`: `2026-11-25 14:39:32.123456 dasd{DuetActivityScheduler+0x1234}[412]
  <NOTICE>: msg [sub][cat]`; the colours it writes to `-o FILE` on a terminal are removed
- `pymobiledevice3 syslog live --format json`: one JSON object a line
- Xcode console: `2019-06-18 23:36:54.523814+0800 NetNewsWire[5127:695645] msg`
- `log show` / `log stream`, default style: `2026-03-15 14:14:19.737128-0500 0x18538 Default
  0x0 120 8 dasd: [sub:cat] msg`; compact: `2026-10-06 00:18:48.912 Df SpringBoard[80966:a1da12]
  [sub:cat] msg`; syslog: `2026-03-15 14:14:19.737128-0500  localhost dasd[120]: msg`
- idevicesyslog (and `syslog live-old`): `Nov 12 12:24:37 iPad runningboardd(RunningBoard)[31]
  <Notice>: msg`
- Console.app copies, tab-separated: `[type<TAB>][date ]time[ ]zone<TAB>process<TAB>[columns
  <TAB>...]msg`; the optional columns (library, subsystem, category) sit before the message,
  which is the last column
- anything else: a bare message (lldb transcripts, lines pasted without their header).

Before its header is looked for, a line loses terminal colour codes and `(lldb) ` prompts glued
to its start; a header indented by a paste into an issue counts as a header.

Records. A line with a header starts a record; so does every bare line that does not continue
the one before. After a header every line without one continues the record (multi-line
messages). After a bare line, a line continues it when it is blank, indented deeper than the
record's first line, opens with `)`, `}` or `]`, follows while a `{` of the record is still open
(NSSet `{( … )}`, NSError `UserInfo={…}`), or is a crash-report field (`Exception Type:`) after a
record that began with one.

Times: a stamp without a zone is UTC (pymobiledevice3 prints the lab Mac's local time without a
zone, so the times read back as that wall clock); a missing year is 2000 (a leap year, so Feb 29
parses), a missing date 2000-01-01; no time at all is `NO_TIME`, which events carry as `None`. A
record that names no pid has `NO_PID`, carried as `None`.

Events. `parse_entry` decides by message text which event a record holds. dasd's forms count only
from dasd or an unnamed sender, the kernel's from the kernel; lldb's output and crash-report
fields only from bare text, never from a device record. The sender (process, subsystem, image)
sets `source`; where the container names none, the message's usual sender is assumed (a bare
"Running task: …" line is the framework's).

Rules are by family, not by sentence (`rules`): a fact worded differently across iOS versions,
daemons and tools lands in one kind with the attrs its family carries. A termination carries
`reason` (`endings`: watchdog, file_lock, memory, cpu, codesigning, signal, crash,
user_force_quit) whether Xcode, the kernel, RunningBoard, assertiond, backboardd, launchd or a
crash report said it; an expiration carries the system's reason code, and `reason` where the
code's meaning was observed. Numbers too long to be one stay text as logged.

The fast path. `parse_blocks` and `count_blocks` read a whole log as byte blocks and give the
same events (and count) as `parse_lines` over its lines, but never look at most noise lines.
Every message form has trigger literals (`TRIGGERS`); a dozen C-speed scans per block find them
all (re for triggers holding a common key byte, memchr for those holding a rare one, a skip
search or re for the rest), and only the records around a hit are read. A block that dense
with hits is read whole, line by line. Counting builds no events, and remembers what it found
in a (process, message): a device says the same things many times.
"""

from __future__ import annotations

from harness.core.logparse.containers import NO_PID, NO_TIME, read_entries
from harness.core.logparse.fastpath import (
    BLOCK,
    Readable,
    count_blocks,
    count_file,
    parse_blocks,
    parse_file,
)
from harness.core.logparse.query import Selection, Since, UnknownKind, kinds_named, parse_since
from harness.core.logparse.recognise import parse_entry, parse_lines
from harness.core.logparse.triggers import TRIGGERS

__all__ = [
    "BLOCK",
    "NO_PID",
    "NO_TIME",
    "TRIGGERS",
    "Readable",
    "Selection",
    "Since",
    "UnknownKind",
    "count_blocks",
    "count_file",
    "kinds_named",
    "parse_blocks",
    "parse_entry",
    "parse_file",
    "parse_lines",
    "parse_since",
    "read_entries",
]
