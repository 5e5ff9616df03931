/* kscan.h: a streaming scanner for Kineto / Chrome trace JSON that keeps only what lowprof uses.
 *
 * Feed it the decompressed document in blocks of any size; it validates the JSON as it goes and
 * stores, column by column, the events lowprof keeps: `X` slices whose category is a GPU activity,
 * a runtime/driver call, a framework op or a user annotation, and `s`/`f`/`t` flow events of the
 * ac2g/async/async_gpu/flow categories (2022-era Runtime/Kernel/Memcpy/Memset and MTIA mtia_ccp_events too). Every other event is validated and skipped, never stored.
 *
 * Units: ts and end are integer ns on the trace's clock, converted exactly from the decimal text of
 * Kineto's µs (`"ts": 1712195495519689.047` -> 1712195495519689047), rounding half to even past the
 * third decimal. A kept event without ts, with a negative dur, or with times beyond +-2^62 ns is
 * dropped and counted (ks_skipped). Integer fields are int64 (device, grid, block and registers per
 * thread: int32, a value beyond that is counted by ks_nulled); a missing, null, non-numeric or
 * out-of-range value is KS_NULL (INT64_MIN). A string value is read as Python's int(s, 0) reads it ("12", "0x1f"), else KS_NULL.
 * Names and categories are interned: the columns hold ids into the string table (-1: absent).
 */
#ifndef LOWPROF_KSCAN_H
#define LOWPROF_KSCAN_H

#include <stddef.h>
#include <stdint.h>

/* int64 columns, in this order */
#define KS_PID 0
#define KS_TID 1
#define KS_TS 2
#define KS_END 3
#define KS_ID 4
#define KS_CORRELATION 5
#define KS_EXTERNAL_ID 6
#define KS_DEVICE 7
#define KS_STREAM 8
#define KS_GRID_X 9
#define KS_GRID_Y 10
#define KS_GRID_Z 11
#define KS_BLOCK_X 12
#define KS_BLOCK_Y 13
#define KS_BLOCK_Z 14
#define KS_REGISTERS 15
#define KS_SHARED_MEMORY 16
#define KS_BYTES 17
#define KS_NCOLS 18

/* category classes (ks_cls column and ks_string_class) */
#define KS_OTHER 0
#define KS_KERNEL 1
#define KS_MEMCPY 2
#define KS_MEMSET 3
#define KS_RUNTIME 4
#define KS_OP 5
#define KS_ANNOTATION 6
#define KS_FLOW 7

/* ks_feed results */
#define KS_NEED 0   /* consumed what it could; feed the rest with more data appended */
#define KS_DONE 1   /* the document is complete (only whitespace may follow) */
#define KS_PAUSE 2  /* the metadata span list is full: collect the spans and feed the rest again */
#define KS_ERROR -1 /* not valid JSON or not a trace: ks_error() says why, ks_error_offset() where */

#define KS_MAX_SPANS 64

/* Why an event of a kept kind was dropped (ks_skipped): it cannot be placed on the timeline. */
#define KS_SKIP_NO_TS 0        /* ts missing or null */
#define KS_SKIP_NEGATIVE_DUR 1 /* dur < 0 */
#define KS_SKIP_TIME_RANGE 2   /* ts, dur or ts + dur beyond +-2^62 ns (146 years): differences of such
                                  times would overflow int64 */
#define KS_NSKIP 3

typedef struct ks_scanner ks_scanner;

ks_scanner *ks_new(void);
void ks_free(ks_scanner *s);

/* Scan buf[0:len]. *consumed is how many bytes were fully used; the caller keeps buf[consumed:] and
 * passes it again, followed by the next block. `final` = no more data will come (a document still
 * open then is an error: truncated). Not thread-safe per scanner; releases nothing it was given. */
int ks_feed(ks_scanner *s, const char *buf, size_t len, int final, size_t *consumed);

/* The top-level members other than traceEvents that the last ks_feed call completed, as byte ranges
 * [start, end) of that call's buf, each a `"key": value` pair. */
int ks_nspans(const ks_scanner *s);
void ks_span(const ks_scanner *s, int i, size_t *start, size_t *end);

const char *ks_error(const ks_scanner *s);
uint64_t ks_error_offset(const ks_scanner *s); /* absolute byte offset in the whole stream */

size_t ks_rows(const ks_scanner *s);           /* kept events */
uint64_t ks_events(const ks_scanner *s);       /* all events in traceEvents */
int ks_array_format(const ks_scanner *s);      /* 1: the document was a bare JSON array of events */
int ks_has_events(const ks_scanner *s);        /* 1: a traceEvents array (or a bare array) was seen */
int ks_max_ts_decimals(const ks_scanner *s);   /* most decimals written in any kept ts (0: integers) */
int ks_inexact_numbers(const ks_scanner *s);   /* ts/dur values with an exponent, read through a double */
/* Earliest ts and latest ts + dur (ns) of every event but metadata ('M') with a placeable ts, kept or
 * not (the span of the trace); returns 0 when no event had one. */
int ks_time_range(const ks_scanner *s, int64_t *first_ns, int64_t *last_ns);
uint64_t ks_skipped(const ks_scanner *s, int reason); /* events dropped for KS_SKIP_* reason */
/* values of the int32 fields (device, grid, block, registers per thread) beyond int32, stored as null */
uint64_t ks_nulled(const ks_scanner *s, int col);
const int64_t *ks_col(const ks_scanner *s, int col);
const uint8_t *ks_ph(const ks_scanner *s);     /* 'X', 's', 'f' or 't' */
const uint8_t *ks_cls(const ks_scanner *s);    /* KS_KERNEL ... KS_FLOW */
const int32_t *ks_name(const ks_scanner *s);   /* string id, -1 when absent or not a string */
const int32_t *ks_cat(const ks_scanner *s);

int32_t ks_nstrings(const ks_scanner *s);
/* String i as written in the JSON (escapes not decoded; *escaped = 1 when it holds a backslash). */
const char *ks_string(const ks_scanner *s, int32_t i, size_t *len, int *escaped);

#endif
