/* kscan_check.c: drive the trace scanner from C under AddressSanitizer/UBSan.
 *
 *   kscan_check FILE   feed FILE in blocks of 1, 3, 17, 4096 and all bytes (each block copied into a
 *                      heap buffer of exactly its size, so any read past it is caught) and check that
 *                      every split gives the same rows and column checksums; then cut the file at many
 *                      points (must be an error, never a crash) and scan 300 mutated copies (any result
 *                      but a crash). Prints "ok" and exits 0.
 */
#include "kscan.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct { int rc; size_t rows; uint64_t events, sum; } result;

static uint64_t checksum(const ks_scanner *s) {
    uint64_t h = 0;
    size_t n = ks_rows(s);
    for (int c = 0; c < KS_NCOLS; c++)
        for (size_t i = 0; i < n; i++) h = h * 31 + (uint64_t)ks_col(s, c)[i];
    for (size_t i = 0; i < n; i++) h = h * 31 + ks_ph(s)[i] + 7u * ks_cls(s)[i] + 131u * (uint32_t)ks_name(s)[i];
    for (int32_t i = 0; i < ks_nstrings(s); i++) {
        size_t len;
        int esc;
        const char *p = ks_string(s, i, &len, &esc);
        for (size_t k = 0; k < len; k++) h = h * 131 + (uint8_t)p[k];
    }
    return h;
}

/* Scan data[0:n] fed in blocks of `block` bytes, the way kineto_scan.py feeds it. */
static result run(const char *data, size_t n, size_t block) {
    ks_scanner *s = ks_new();
    char *pending = NULL;
    size_t plen = 0, off = 0, used;
    int rc = KS_NEED;
    while (rc != KS_ERROR) {
        size_t take = off < n ? (n - off < block ? n - off : block) : 0;
        int final = off + take >= n;
        size_t len = plen + take;
        char *buf = malloc(len ? len : 1);  /* exactly the bytes fed: ASan sees any over-read */
        if (plen) memcpy(buf, pending, plen);
        memcpy(buf + plen, data + off, take);
        off += take;
        free(pending);
        size_t at = 0;
        do {
            rc = ks_feed(s, buf + at, len - at, final, &used);
            at += used;
        } while (rc == KS_PAUSE);
        plen = len - at;
        pending = malloc(plen ? plen : 1);
        memcpy(pending, buf + at, plen);
        free(buf);
        if (final) break;
    }
    free(pending);
    result r = {rc, ks_rows(s), ks_events(s), rc == KS_DONE ? checksum(s) : 0};
    ks_free(s);
    return r;
}

int main(int argc, char **argv) {
    if (argc != 2) { fprintf(stderr, "usage: kscan_check FILE\n"); return 2; }
    FILE *f = fopen(argv[1], "rb");
    if (!f) { perror(argv[1]); return 2; }
    fseek(f, 0, SEEK_END);
    size_t n = (size_t)ftell(f);
    fseek(f, 0, SEEK_SET);
    char *data = malloc(n);
    if (fread(data, 1, n, f) != n) { perror("read"); return 2; }
    fclose(f);

    result whole = run(data, n, n);
    if (whole.rc != KS_DONE) { printf("whole file: rc %d\n", whole.rc); return 1; }
    size_t blocks[] = {1, 3, 17, 4096};
    for (size_t i = 0; i < sizeof blocks / sizeof *blocks; i++) {
        if (blocks[i] == 1 && n > (1 << 16)) continue;  /* quadratic re-feeding: small files only */
        result r = run(data, n, blocks[i]);
        if (r.rc != KS_DONE || r.rows != whole.rows || r.events != whole.events || r.sum != whole.sum) {
            printf("block %zu: rc %d rows %zu/%zu events %llu/%llu\n", blocks[i], r.rc, r.rows, whole.rows,
                   (unsigned long long)r.events, (unsigned long long)whole.events);
            return 1;
        }
    }
    size_t last = n;  /* the document ends at its last non-space byte */
    while (last && strchr(" \n\r\t", data[last - 1])) last--;
    for (size_t k = 0; k < 211; k++) {
        size_t cut = (size_t)((double)last * k / 211.0);
        result r = run(data, cut, 4096);
        if (r.rc != KS_ERROR) { printf("cut at %zu of %zu: rc %d, not an error\n", cut, n, r.rc); return 1; }
    }
    uint64_t x = 88172645463325252ull;
    char *copy = malloc(n);
    for (int k = 0; k < 300; k++) {
        memcpy(copy, data, n);
        for (int m = 0; m < 1 + k % 4; m++) {
            x ^= x << 13; x ^= x >> 7; x ^= x << 17;
            copy[x % n] = "{}[]\",:\\0-.eE \x01\xff"[(x >> 32) % 16];
        }
        result r = run(copy, n, 1 + (size_t)(x >> 40) % 8192);
        if (r.rc != KS_DONE && r.rc != KS_ERROR) { printf("mutant %d: rc %d\n", k, r.rc); return 1; }
    }
    free(copy);
    free(data);
    printf("ok rows %zu events %llu\n", whole.rows, (unsigned long long)whole.events);
    return 0;
}
