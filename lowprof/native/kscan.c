/* kscan.c: streaming Kineto trace scanner (see kscan.h). One pass, no allocation per event.
 *
 * Parsing functions take the cursor and return the cursor after what they read. Running off the end
 * of the current block longjmps to ks_feed with "incomplete" (the caller rewinds to the last
 * committed point: the start of the unfinished event or top-level member); malformed JSON longjmps
 * with "error". A row is appended only once its whole event has been read, so a rewind never leaves
 * half an event behind.
 */
#include "kscan.h"

#include <math.h>
#include <setjmp.h>
#include <stdlib.h>
#include <string.h>

#define NUL INT64_MIN
#define MAX_DEPTH 512
#define TIME_LIMIT ((int64_t)1 << 62) /* |ts|, ts + dur in ns: see KS_SKIP_TIME_RANGE */

enum { TOP_BEGIN, TOP_KEY_FIRST, TOP_KEY, TOP_AFTER_VALUE, EV_FIRST, EV_ITEM, EV_NEXT, TOP_END };
enum { JMP_INCOMPLETE = 1, JMP_ERROR = 2 };

struct ks_scanner {
    /* columns of kept events */
    size_t rows, cap;
    int64_t *col[KS_NCOLS];
    uint8_t *ph, *cls;
    int32_t *name, *cat;
    /* interned strings: arena + per-string offset/length/class; open-addressing hash of ids */
    char *arena;
    size_t arena_len, arena_cap;
    size_t *str_off;
    uint32_t *str_len;
    uint64_t *str_hash;
    uint8_t *str_cls, *str_esc;
    int32_t nstr, str_cap;
    int32_t *slots;
    uint32_t nslots;
    /* parse state */
    int state, array_format, has_events, max_decimals, inexact;
    uint64_t events, base_offset;
    int has_time_range;           /* 1 once an event gave a placeable ts */
    int64_t first_ns, last_ns;    /* earliest ts, latest ts + dur over every event (not only kept ones) */
    uint64_t skipped[KS_NSKIP];   /* kept-kind events dropped, by reason */
    uint64_t nulled[KS_NCOLS];    /* values out of their column's range, stored as null */
    const char *buf, *end;
    size_t commit;
    jmp_buf jb;
    const char *err;
    uint64_t err_offset;
    int nspans;
    size_t spans[KS_MAX_SPANS][2];
};

/* ---- failure ---------------------------------------------------------------------------------- */

static void incomplete(ks_scanner *s) { longjmp(s->jb, JMP_INCOMPLETE); }

static void fail(ks_scanner *s, const char *p, const char *msg) {
    s->err = msg;
    s->err_offset = s->base_offset + (uint64_t)(p - s->buf);
    longjmp(s->jb, JMP_ERROR);
}

static void *grow(ks_scanner *s, void *ptr, size_t bytes) {
    void *q = realloc(ptr, bytes ? bytes : 1);
    if (!q) fail(s, s->buf, "out of memory");
    return q;
}

/* ---- lexical ---------------------------------------------------------------------------------- */

/* 1 for bytes that end a run of plain string characters: '"', '\\' and control characters. */
static uint8_t STOP[256];
static uint8_t HEX[256];

static void init_tables(void) {
    static int done;
    if (done) return;
    for (int c = 0; c < 0x20; c++) STOP[c] = 1;
    STOP['"'] = STOP['\\'] = 1;
    for (int c = '0'; c <= '9'; c++) HEX[c] = 1;
    for (int c = 'a'; c <= 'f'; c++) HEX[c] = HEX[c - 32] = 1;
    done = 1;
}

static inline const char *ws(ks_scanner *s, const char *p) {
    while (p < s->end && (*p == ' ' || *p == '\n' || *p == '\r' || *p == '\t')) p++;
    if (p >= s->end) incomplete(s);
    return p;
}

static inline const char *expect(ks_scanner *s, const char *p, char c, const char *msg) {
    p = ws(s, p);
    if (*p != c) fail(s, p, msg);
    return p + 1;
}

/* p just after the opening quote; returns just after the closing quote. */
static const char *string_end(ks_scanner *s, const char *p, int *escaped) {
    const char *end = s->end;
    for (;;) {
        while (p + 8 <= end && !(STOP[(uint8_t)p[0]] | STOP[(uint8_t)p[1]] | STOP[(uint8_t)p[2]] |
                                 STOP[(uint8_t)p[3]] | STOP[(uint8_t)p[4]] | STOP[(uint8_t)p[5]] |
                                 STOP[(uint8_t)p[6]] | STOP[(uint8_t)p[7]]))
            p += 8;
        while (p < end && !STOP[(uint8_t)*p]) p++;
        if (p >= end) incomplete(s);
        uint8_t c = (uint8_t)*p;
        if (c == '"') return p + 1;
        if (c < 0x20) fail(s, p, "control character inside a string");
        *escaped = 1;
        if (++p >= end) incomplete(s);
        c = (uint8_t)*p;
        if (c == 'u') {
            for (int i = 1; i <= 4; i++) {
                if (p + i >= end) incomplete(s);
                if (!HEX[(uint8_t)p[i]]) fail(s, p + i, "bad \\u escape in a string");
            }
            p += 5;
        } else if (c == '"' || c == '\\' || c == '/' || c == 'b' || c == 'f' || c == 'n' || c == 'r' || c == 't') {
            p++;
        } else {
            fail(s, p, "bad escape in a string");
        }
    }
}

static inline int digit(ks_scanner *s, const char *p) {
    if (p >= s->end) incomplete(s);
    return *p >= '0' && *p <= '9';
}

/* Validate a JSON number at p; returns its end. *frac / *exp point at '.' / 'e' (NULL if none). */
static inline const char *digits(ks_scanner *s, const char *p) {
    const char *end = s->end;
    while (p < end && (unsigned)(*p - '0') < 10) p++;
    if (p >= end) incomplete(s);
    return p;
}

static const char *number_end(ks_scanner *s, const char *p, const char **frac, const char **exp) {
    *frac = *exp = NULL;
    if (*p == '-') p++;
    if (!digit(s, p)) fail(s, p, "bad number");
    p = *p == '0' ? p + 1 : digits(s, p);
    if (p >= s->end) incomplete(s);
    if (*p == '.') {
        *frac = p++;
        if (!digit(s, p)) fail(s, p, "bad number");
        p = digits(s, p);
    }
    if (*p == 'e' || *p == 'E') {
        *exp = p++;
        if (p >= s->end) incomplete(s);
        if (*p == '+' || *p == '-') p++;
        if (!digit(s, p)) fail(s, p, "bad number");
        while (digit(s, p)) p++;
    }
    return p;
}

static double strtod_span(const char *a, const char *b) {
    char tmp[64];
    size_t n = (size_t)(b - a);
    if (n >= sizeof tmp) n = sizeof tmp - 1;
    memcpy(tmp, a, n);
    tmp[n] = 0;
    return strtod(tmp, NULL);
}

static const char *literal(ks_scanner *s, const char *p, const char *word) {
    size_t n = strlen(word);
    for (size_t i = 0; i < n; i++) {
        if (p + i >= s->end) incomplete(s);
        if (p[i] != word[i]) fail(s, p, "unexpected character");
    }
    return p + n;
}

static const char *skip_value(ks_scanner *s, const char *p, int depth) {
    const char *f, *e;
    int esc = 0;
    if (depth > MAX_DEPTH) fail(s, p, "nested too deeply");
    switch (*p) {
    case '"':
        return string_end(s, p + 1, &esc);
    case '{':
        p = ws(s, p + 1);
        if (*p == '}') return p + 1;
        for (;;) {
            if (*p != '"') fail(s, p, "expected a key");
            p = string_end(s, p + 1, &esc);
            p = expect(s, p, ':', "expected ':'");
            p = skip_value(s, ws(s, p), depth + 1);
            p = ws(s, p);
            if (*p == '}') return p + 1;
            if (*p != ',') fail(s, p, "expected ',' or '}'");
            p = ws(s, p + 1);
        }
    case '[':
        p = ws(s, p + 1);
        if (*p == ']') return p + 1;
        for (;;) {
            p = skip_value(s, p, depth + 1);
            p = ws(s, p);
            if (*p == ']') return p + 1;
            if (*p != ',') fail(s, p, "expected ',' or ']'");
            p = ws(s, p + 1);
        }
    case 't': return literal(s, p, "true");
    case 'f': return literal(s, p, "false");
    case 'n': return literal(s, p, "null");
    default:
        if (*p == '-' || (*p >= '0' && *p <= '9')) return number_end(s, p, &f, &e);
        fail(s, p, "unexpected character");
    }
    return p;
}

/* ---- values ----------------------------------------------------------------------------------- */

/* A JSON number as an integer: integers exactly (out of int64 range: NUL), others truncated. */
static int64_t number_int(const char *a, const char *b, const char *frac, const char *exp) {
    if (frac || exp) {
        double d = strtod_span(a, b);
        if (!(d > -9.2e18 && d < 9.2e18)) return NUL;
        return (int64_t)d;
    }
    int neg = *a == '-';
    uint64_t v = 0;
    for (const char *q = a + neg; q < b; q++) {
        if (v > (UINT64_MAX - 9) / 10) return NUL;
        v = v * 10 + (uint64_t)(*q - '0');
    }
    if (neg) return v <= (uint64_t)INT64_MAX + 1 ? (int64_t)(0 - v) : NUL;
    return v <= (uint64_t)INT64_MAX ? (int64_t)v : NUL;
}

static int digit_value(int c, int base) {
    int v = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'z' ? c - 'a' + 10 : c >= 'A' && c <= 'Z' ? c - 'A' + 10 : 99;
    return v < base ? v : -1;
}

/* A string's text read as Python's int(text, 0) reads it; NUL when Python would raise. */
static int64_t string_int(const char *a, const char *b) {
    while (a < b && strchr(" \t\n\r\v\f", *a)) a++;
    while (b > a && strchr(" \t\n\r\v\f", b[-1])) b--;
    int neg = 0;
    if (a < b && (*a == '+' || *a == '-')) neg = *a++ == '-';
    int base = 10;
    if (b - a >= 2 && a[0] == '0' && strchr("xXoObB", a[1])) {
        base = a[1] == 'x' || a[1] == 'X' ? 16 : a[1] == 'o' || a[1] == 'O' ? 8 : 2;
        a += 2;
        if (a < b && *a == '_') a++;
    } else if (b - a >= 2 && a[0] == '0') {
        for (const char *q = a; q < b; q++)
            if (*q != '0' && *q != '_') return NUL;  /* "012" is an error; "00" is 0 */
    }
    if (a >= b) return NUL;
    uint64_t v = 0;
    for (const char *q = a; q < b; q++) {
        if (*q == '_' && q > a && q + 1 < b && q[-1] != '_' && digit_value(q[1], base) >= 0) continue;
        int d = digit_value(*q, base);
        if (d < 0 || v > (UINT64_MAX - (uint64_t)d) / (uint64_t)base) return NUL;
        v = v * (uint64_t)base + (uint64_t)d;
    }
    if (neg) return v <= (uint64_t)INT64_MAX + 1 ? (int64_t)(0 - v) : NUL;
    return v <= (uint64_t)INT64_MAX ? (int64_t)v : NUL;
}

/* Any JSON value read as an int field: numbers, numeric strings; anything else NUL. */
static const char *int_value(ks_scanner *s, const char *p, int64_t *out) {
    const char *f, *e, *q;
    int esc = 0;
    if (*p == '-' || (*p >= '0' && *p <= '9')) {
        q = number_end(s, p, &f, &e);
        *out = number_int(p, q, f, e);
        return q;
    }
    if (*p == '"') {
        q = string_end(s, p + 1, &esc);
        *out = esc ? NUL : string_int(p + 1, q - 1);
        return q;
    }
    *out = NUL;
    return skip_value(s, p, 1);
}

/* A µs number -> exact integer ns (decimals past the third rounded half to even). */
static const char *us_to_ns(ks_scanner *s, const char *p, int64_t *out, int *decimals, int *bad, int *inexact) {
    const char *f, *e;
    const char *q = number_end(s, p, &f, &e);
    *decimals = 0;
    if (e) {  /* exponent: through a double, as any float parser would */
        double us = strtod_span(p, q), whole = floor(us);
        if (!(fabs(us) < 9.2e15)) { *bad = 1; return q; }
        *out = (int64_t)whole * 1000 + (int64_t)nearbyint((us - whole) * 1000.0);
        (*inexact)++;
        *decimals = 3;
        return q;
    }
    int neg = *p == '-';
    const char *ie = f ? f : q;
    uint64_t v = 0;
    for (const char *d = p + neg; d < ie; d++) {
        if (v > (uint64_t)(INT64_MAX / 1000 - 10) / 10) { *bad = 1; return q; }
        v = v * 10 + (uint64_t)(*d - '0');
    }
    uint64_t ns = 0;
    if (f) {
        const char *d = f + 1;
        int k = 0;
        for (; k < 3; k++) ns = ns * 10 + (d + k < q ? (uint64_t)(d[k] - '0') : 0);
        *decimals = (int)(q - d);
        if (d + 3 < q) {  /* round half to even on the digits past ns */
            int first = d[3] - '0', rest = 0;
            for (const char *r = d + 4; r < q; r++) rest |= *r != '0';
            if (first > 5 || (first == 5 && (rest || (ns & 1)))) ns++;
        }
    }
    uint64_t total = v * 1000 + ns;
    *out = neg ? -(int64_t)total : (int64_t)total;
    return q;
}

/* ---- strings ---------------------------------------------------------------------------------- */

static int classify(const char *c, size_t n) {
#define IS(lit) (n == sizeof(lit) - 1 && memcmp(c, lit, n) == 0)
#define ENDS(lit) (n >= sizeof(lit) - 1 && memcmp(c + n - (sizeof(lit) - 1), lit, sizeof(lit) - 1) == 0)
    /* 2022-era Kineto wrote Runtime/Kernel/Memcpy/Memset and async_gpu flows; MTIA device events are
     * mtia_ccp_events (HTA's GPU_EVENT_CATEGORY_PATTERN counts them as device activity) */
    if (IS("kernel") || IS("Kernel") || IS("mtia_ccp_events")) return KS_KERNEL;
    if (IS("gpu_memcpy") || IS("Memcpy")) return KS_MEMCPY;
    if (IS("gpu_memset") || IS("Memset")) return KS_MEMSET;
    if (IS("cpu_op") || IS("Operator") || IS("operator")) return KS_OP;
    if (IS("user_annotation")) return KS_ANNOTATION;
    if (IS("ac2g") || IS("async") || IS("async_gpu") || IS("flow")) return KS_FLOW;
    if (IS("runtime") || IS("Runtime") || IS("driver") || ENDS("_runtime") || ENDS("_driver")) return KS_RUNTIME;
    return KS_OTHER;
#undef IS
#undef ENDS
}

/* 8 bytes per step (multiply-xorshift), then the tail bytes. */
static uint64_t hash_bytes(const char *p, size_t n) {
    uint64_t h = 0x9e3779b97f4a7c15ull ^ n, w;
    for (; n >= 8; p += 8, n -= 8) {
        memcpy(&w, p, 8);
        h = (h ^ w) * 0xff51afd7ed558ccdull;
        h ^= h >> 32;
    }
    w = 0;
    memcpy(&w, p, n);
    h = (h ^ w) * 0xc4ceb9fe1a85ec53ull;
    return h ^ (h >> 29);
}

static void rehash(ks_scanner *s, uint32_t nslots) {
    int32_t *slots = grow(s, NULL, nslots * sizeof *slots);
    memset(slots, 0xff, nslots * sizeof *slots);
    for (int32_t i = 0; i < s->nstr; i++) {
        uint32_t j = (uint32_t)s->str_hash[i] & (nslots - 1);
        while (slots[j] >= 0) j = (j + 1) & (nslots - 1);
        slots[j] = i;
    }
    free(s->slots);
    s->slots = slots;
    s->nslots = nslots;
}

static int32_t intern(ks_scanner *s, const char *p, size_t n, int escaped) {
    uint64_t h = hash_bytes(p, n);
    uint32_t j = (uint32_t)h & (s->nslots - 1);
    for (int32_t i; (i = s->slots[j]) >= 0; j = (j + 1) & (s->nslots - 1))
        if (s->str_hash[i] == h && s->str_len[i] == n && memcmp(s->arena + s->str_off[i], p, n) == 0) return i;
    if (n > UINT32_MAX) fail(s, p, "string too long");
    if (s->nstr == s->str_cap) {
        s->str_cap = s->str_cap ? 2 * s->str_cap : 1024;
        s->str_off = grow(s, s->str_off, (size_t)s->str_cap * sizeof *s->str_off);
        s->str_len = grow(s, s->str_len, (size_t)s->str_cap * sizeof *s->str_len);
        s->str_hash = grow(s, s->str_hash, (size_t)s->str_cap * sizeof *s->str_hash);
        s->str_cls = grow(s, s->str_cls, (size_t)s->str_cap);
        s->str_esc = grow(s, s->str_esc, (size_t)s->str_cap);
    }
    if (s->arena_len + n > s->arena_cap) {
        while (s->arena_len + n > s->arena_cap) s->arena_cap = s->arena_cap ? 2 * s->arena_cap : 1 << 16;
        s->arena = grow(s, s->arena, s->arena_cap);
    }
    int32_t id = s->nstr++;
    memcpy(s->arena + s->arena_len, p, n);
    s->str_off[id] = s->arena_len;
    s->arena_len += n;
    s->str_len[id] = (uint32_t)n;
    s->str_hash[id] = h;
    s->str_esc[id] = (uint8_t)escaped;
    s->str_cls[id] = escaped ? KS_OTHER : (uint8_t)classify(p, n);
    s->slots[j] = id;
    if ((uint32_t)s->nstr * 2 > s->nslots) rehash(s, s->nslots * 2);
    return id;
}

/* ---- events ----------------------------------------------------------------------------------- */

#define KEY(lit) (klen == sizeof(lit) - 1 && memcmp(key, lit, klen) == 0)

/* p at a member's key: reads `"key" :` and returns the start of its value. */
static const char *member_key(ks_scanner *s, const char *p, const char **key, size_t *klen, int *esc,
                              const char *no_key, const char *no_colon) {
    if (*p != '"') fail(s, p, no_key);
    *key = p + 1;
    p = string_end(s, *key, esc);
    *klen = (size_t)(p - 1 - *key);
    return ws(s, expect(s, p, ':', no_colon));
}

static const char *args_object(ks_scanner *s, const char *p, int64_t *v) {
    int64_t corr = NUL, corr_id = NUL, ext = NUL, ext_lower = NUL;
    int has_corr = 0, has_ext = 0;
    for (int c = KS_CORRELATION; c < KS_NCOLS; c++) v[c] = NUL;
    p = ws(s, p + 1);
    if (*p == '}') goto done;
    for (;;) {
        const char *key;
        size_t klen;
        int esc = 0;
        p = member_key(s, p, &key, &klen, &esc, "expected a key in args", "expected ':' in args");
        if (esc) p = skip_value(s, p, 2);
        else if (KEY("correlation")) { p = int_value(s, p, &corr); has_corr = 1; }
        else if (KEY("correlationId")) p = int_value(s, p, &corr_id);
        else if (KEY("External id")) { p = int_value(s, p, &ext); has_ext = 1; }
        else if (KEY("external id")) p = int_value(s, p, &ext_lower);
        else if (KEY("device")) p = int_value(s, p, &v[KS_DEVICE]);
        else if (KEY("stream")) p = int_value(s, p, &v[KS_STREAM]);
        else if (KEY("registers per thread")) p = int_value(s, p, &v[KS_REGISTERS]);
        else if (KEY("shared memory")) p = int_value(s, p, &v[KS_SHARED_MEMORY]);
        else if (KEY("bytes")) p = int_value(s, p, &v[KS_BYTES]);
        else if (KEY("grid") || KEY("block")) {
            int64_t *xyz = &v[KEY("grid") ? KS_GRID_X : KS_BLOCK_X];
            xyz[0] = xyz[1] = xyz[2] = NUL;
            if (*p != '[') {
                p = skip_value(s, p, 2);
            } else {
                p = ws(s, p + 1);
                for (int i = 0; *p != ']'; i++) {
                    if (i < 3) p = int_value(s, p, &xyz[i]);
                    else p = skip_value(s, p, 3);
                    p = ws(s, p);
                    if (*p == ']') break;
                    if (*p != ',') fail(s, p, "expected ',' or ']'");
                    p = ws(s, p + 1);
                }
                p++;
            }
        } else {
            p = skip_value(s, p, 2);
        }
        p = ws(s, p);
        if (*p == '}') break;
        if (*p != ',') fail(s, p, "expected ',' or '}' in args");
        p = ws(s, p + 1);
    }
done:
    v[KS_CORRELATION] = has_corr ? corr : corr_id;
    v[KS_EXTERNAL_ID] = has_ext ? ext : ext_lower;
    return p + 1;
}

static void append(ks_scanner *s, const int64_t *v, uint8_t ph, uint8_t cls, int32_t name, int32_t cat) {
    if (s->rows == s->cap) {
        size_t cap = s->cap ? 2 * s->cap : 4096;
        for (int c = 0; c < KS_NCOLS; c++) s->col[c] = grow(s, s->col[c], cap * sizeof(int64_t));
        s->ph = grow(s, s->ph, cap);
        s->cls = grow(s, s->cls, cap);
        s->name = grow(s, s->name, cap * sizeof(int32_t));
        s->cat = grow(s, s->cat, cap * sizeof(int32_t));
        s->cap = cap;
    }
    size_t r = s->rows++;
    for (int c = 0; c < KS_NCOLS; c++) s->col[c][r] = v[c];
    s->ph[r] = ph;
    s->cls[r] = cls;
    s->name[r] = name;
    s->cat[r] = cat;
}

/* p at '{'; returns after the matching '}'. */
static const char *event(ks_scanner *s, const char *p) {
    int64_t v[KS_NCOLS];
    for (int c = 0; c < KS_NCOLS; c++) v[c] = NUL;
    int64_t ts = NUL, dur = 0, end;
    int decimals = 0, name_esc = 0;
    /* per field, the last value written wins (as in a JSON object read into a dict) */
    int ts_type = 0, dur_type = 0, ts_range = 0, dur_range = 0, ts_inexact = 0, dur_inexact = 0;
    uint8_t ph = 0;
    int32_t cat = -1;
    const char *name = NULL;
    size_t name_len = 0;
    p = ws(s, p + 1);
    if (*p != '}') {
        for (;;) {
            const char *key;
            size_t klen;
            int esc = 0;
            p = member_key(s, p, &key, &klen, &esc, "expected a key in an event", "expected ':' in an event");
            if (esc) {
                p = skip_value(s, p, 1);
            } else if (KEY("ph")) {
                const char *a = p + 1;
                int e2 = 0;
                if (*p == '"') { p = string_end(s, a, &e2); ph = (p - a == 2 && !e2) ? (uint8_t)*a : 0; }
                else { ph = 0; p = skip_value(s, p, 1); }
            } else if (KEY("cat")) {
                const char *a = p + 1;
                int e2 = 0;
                if (*p == '"') { p = string_end(s, a, &e2); cat = intern(s, a, (size_t)(p - 1 - a), e2); }
                else { cat = -1; p = skip_value(s, p, 1); }
            } else if (KEY("name")) {
                if (*p == '"') { name = p + 1; name_esc = 0; p = string_end(s, name, &name_esc); name_len = (size_t)(p - 1 - name); }
                else { name = NULL; p = skip_value(s, p, 1); }
            } else if (KEY("pid")) p = int_value(s, p, &v[KS_PID]);
            else if (KEY("tid")) p = int_value(s, p, &v[KS_TID]);
            else if (KEY("id")) p = int_value(s, p, &v[KS_ID]);
            else if (KEY("ts") || KEY("dur")) {
                int is_ts = KEY("ts"), dec = 0, range = 0, inexact = 0, type = 0;
                int64_t *dst = is_ts ? &ts : &dur;
                if (*p == '-' || (*p >= '0' && *p <= '9')) p = us_to_ns(s, p, dst, &dec, &range, &inexact);
                else { *dst = is_ts ? NUL : 0; type = *p != 'n'; p = skip_value(s, p, 1); }
                if (is_ts) { decimals = dec; ts_type = type; ts_range = range; ts_inexact = inexact; }
                else { dur_type = type; dur_range = range; dur_inexact = inexact; }
            } else if (KEY("args")) {
                if (*p == '{') p = args_object(s, p, v);
                else { for (int c = KS_CORRELATION; c < KS_NCOLS; c++) v[c] = NUL; p = skip_value(s, p, 1); }
            } else {
                p = skip_value(s, p, 1);
            }
            p = ws(s, p);
            if (*p == '}') break;
            if (*p != ',') fail(s, p, "expected ',' or '}' in an event");
            p = ws(s, p + 1);
        }
    }
    s->events++;
    if (ph != 'M' && !ts_type && !dur_type && ts != NUL && !ts_range && !dur_range && dur >= 0 &&
        ts >= -TIME_LIMIT && ts <= TIME_LIMIT && !__builtin_add_overflow(ts, dur, &end) && end <= TIME_LIMIT) {
        if (!s->has_time_range || ts < s->first_ns) s->first_ns = ts;
        if (!s->has_time_range || end > s->last_ns) s->last_ns = end;
        s->has_time_range = 1;
    }
    uint8_t cls = cat >= 0 ? s->str_cls[cat] : KS_OTHER;
    int keep = (ph == 'X' && cls >= KS_KERNEL && cls <= KS_ANNOTATION) ||
               ((ph == 's' || ph == 'f' || ph == 't') && cls == KS_FLOW);
    if (!keep) return p + 1;
    if (ts_type || dur_type) fail(s, p, "an event's ts or dur is not a number");
    /* An event that cannot be placed on the timeline is dropped and counted, never stored. */
    int why = -1;
    if (ts == NUL && !ts_range) why = KS_SKIP_NO_TS;
    else if (ts_range || dur_range) why = KS_SKIP_TIME_RANGE; /* beyond int64 ns */
    else if (dur < 0) why = KS_SKIP_NEGATIVE_DUR;
    else if (ts < -TIME_LIMIT || ts > TIME_LIMIT || __builtin_add_overflow(ts, dur, &end) || end > TIME_LIMIT)
        why = KS_SKIP_TIME_RANGE;
    if (why >= 0) {
        s->skipped[why]++;
        return p + 1;
    }
    static const int narrow[] = {KS_DEVICE, KS_GRID_X, KS_GRID_Y, KS_GRID_Z, KS_BLOCK_X, KS_BLOCK_Y, KS_BLOCK_Z,
                                 KS_REGISTERS};
    for (size_t i = 0; i < sizeof narrow / sizeof *narrow; i++) {
        int c = narrow[i];
        if (v[c] != NUL && (v[c] < INT32_MIN || v[c] > INT32_MAX)) { v[c] = NUL; s->nulled[c]++; }
    }
    v[KS_TS] = ts;
    v[KS_END] = end;
    if (decimals > s->max_decimals) s->max_decimals = decimals;
    s->inexact += ts_inexact + dur_inexact;
    append(s, v, ph, cls, name ? intern(s, name, name_len, name_esc) : -1, cat);
    return p + 1;
}

#undef KEY

/* ---- driver ----------------------------------------------------------------------------------- */

ks_scanner *ks_new(void) {
    init_tables();
    ks_scanner *s = calloc(1, sizeof *s);
    if (!s) return NULL;
    s->nslots = 4096;
    s->slots = malloc(s->nslots * sizeof *s->slots);
    if (!s->slots) { free(s); return NULL; }
    memset(s->slots, 0xff, s->nslots * sizeof *s->slots);
    s->state = TOP_BEGIN;
    return s;
}

void ks_free(ks_scanner *s) {
    if (!s) return;
    for (int c = 0; c < KS_NCOLS; c++) free(s->col[c]);
    free(s->ph); free(s->cls); free(s->name); free(s->cat);
    free(s->arena); free(s->str_off); free(s->str_len); free(s->str_hash); free(s->str_cls); free(s->str_esc);
    free(s->slots);
    free(s);
}

static void commit(ks_scanner *s, const char *p) { s->commit = (size_t)(p - s->buf); }

/* Whitespace between top-level tokens and between events: skipped and committed, so that a long run
 * of it is read once, never kept for the next block (the scan stays linear in the input). */
static const char *ws_commit(ks_scanner *s, const char *p) {
    while (p < s->end && (*p == ' ' || *p == '\n' || *p == '\r' || *p == '\t')) p++;
    commit(s, p);
    if (p >= s->end) incomplete(s);
    return p;
}

int ks_feed(ks_scanner *s, const char *buf, size_t len, int final, size_t *consumed) {
    s->buf = buf;
    s->end = buf + len;
    s->commit = 0;
    s->nspans = 0;
    s->err = NULL;
    int r = setjmp(s->jb);
    if (r) {
        *consumed = s->commit;
        s->base_offset += s->commit;
        if (r == JMP_ERROR) return KS_ERROR;
        if (!final) return KS_NEED;
        s->err = s->state == TOP_BEGIN ? "empty document" : "truncated: the document ends early";
        s->err_offset = s->base_offset + (len - s->commit);
        return KS_ERROR;
    }
    const char *p = buf;
    for (;;) {
        switch (s->state) {
        case TOP_BEGIN:
            p = ws_commit(s, p);
            if (*p == '{') s->state = TOP_KEY_FIRST;
            else if (*p == '[') { s->state = EV_FIRST; s->array_format = s->has_events = 1; }
            else fail(s, p, "not a JSON object or array");
            commit(s, ++p);
            break;
        case TOP_KEY_FIRST:
        case TOP_KEY: {
            p = ws_commit(s, p);
            if (s->state == TOP_KEY_FIRST && *p == '}') { s->state = TOP_END; commit(s, ++p); break; }
            if (*p != '"') fail(s, p, "expected a key");
            if (s->nspans == KS_MAX_SPANS) {
                *consumed = s->commit;
                s->base_offset += s->commit;
                return KS_PAUSE;
            }
            const char *start = p;
            int esc = 0;
            p = string_end(s, p + 1, &esc);
            int is_events = !esc && p - start == 13 && memcmp(start, "\"traceEvents\"", 13) == 0;
            p = ws(s, expect(s, p, ':', "expected ':'"));
            if (is_events) {
                if (*p != '[') fail(s, p, "traceEvents is not an array");
                s->has_events = 1;
                s->state = EV_FIRST;
                commit(s, ++p);
                break;
            }
            p = skip_value(s, p, 1);
            s->spans[s->nspans][0] = (size_t)(start - buf);
            s->spans[s->nspans][1] = (size_t)(p - buf);
            s->nspans++;
            s->state = TOP_AFTER_VALUE;
            commit(s, p);
            break;
        }
        case TOP_AFTER_VALUE:
            p = ws_commit(s, p);
            if (*p == ',') s->state = TOP_KEY;
            else if (*p == '}') s->state = TOP_END;
            else fail(s, p, "expected ',' or '}'");
            commit(s, ++p);
            break;
        case EV_FIRST:
        case EV_ITEM:
        case EV_NEXT:
            p = ws_commit(s, p);
            if (s->state == EV_NEXT) {
                if (*p == ',') { s->state = EV_ITEM; commit(s, ++p); break; }
                if (*p != ']') fail(s, p, "expected ',' or ']' between events");
            }
            if (*p == ']' && s->state != EV_ITEM) {
                s->state = s->array_format ? TOP_END : TOP_AFTER_VALUE;
                commit(s, ++p);
                break;
            }
            if (*p == '{') p = event(s, p);
            else { p = skip_value(s, p, 1); s->events++; }
            s->state = EV_NEXT;
            commit(s, p);
            break;
        case TOP_END:
            while (p < s->end && (*p == ' ' || *p == '\n' || *p == '\r' || *p == '\t')) p++;
            if (p < s->end) fail(s, p, "data after the end of the document");
            commit(s, p);
            *consumed = s->commit;
            s->base_offset += s->commit;
            return final ? KS_DONE : KS_NEED;
        }
    }
}

int ks_nspans(const ks_scanner *s) { return s->nspans; }
void ks_span(const ks_scanner *s, int i, size_t *start, size_t *end) { *start = s->spans[i][0]; *end = s->spans[i][1]; }
const char *ks_error(const ks_scanner *s) { return s->err ? s->err : ""; }
uint64_t ks_error_offset(const ks_scanner *s) { return s->err_offset; }
size_t ks_rows(const ks_scanner *s) { return s->rows; }
uint64_t ks_events(const ks_scanner *s) { return s->events; }
int ks_array_format(const ks_scanner *s) { return s->array_format; }
int ks_has_events(const ks_scanner *s) { return s->has_events; }
int ks_max_ts_decimals(const ks_scanner *s) { return s->max_decimals; }
int ks_inexact_numbers(const ks_scanner *s) { return s->inexact; }
int ks_time_range(const ks_scanner *s, int64_t *first_ns, int64_t *last_ns) {
    *first_ns = s->first_ns;
    *last_ns = s->last_ns;
    return s->has_time_range;
}
uint64_t ks_skipped(const ks_scanner *s, int reason) { return reason >= 0 && reason < KS_NSKIP ? s->skipped[reason] : 0; }
uint64_t ks_nulled(const ks_scanner *s, int col) { return col >= 0 && col < KS_NCOLS ? s->nulled[col] : 0; }
const int64_t *ks_col(const ks_scanner *s, int col) { return s->col[col]; }
const uint8_t *ks_ph(const ks_scanner *s) { return s->ph; }
const uint8_t *ks_cls(const ks_scanner *s) { return s->cls; }
const int32_t *ks_name(const ks_scanner *s) { return s->name; }
const int32_t *ks_cat(const ks_scanner *s) { return s->cat; }
int32_t ks_nstrings(const ks_scanner *s) { return s->nstr; }
const char *ks_string(const ks_scanner *s, int32_t i, size_t *len, int *escaped) {
    *len = s->str_len[i];
    *escaped = s->str_esc[i];
    return s->arena + s->str_off[i];
}
