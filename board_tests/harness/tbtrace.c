/*
 * tbtrace: a QEMU 7.2 TCG plugin that records which translation blocks (TBs) a firmware executes,
 * how often, and where each one went next -- the input of the cycle estimator (cycles.py).
 *
 *   qemu-system-arm ... -plugin tbtrace.so,out=FILE,mark=0xADDR[,arm=0xADDR,disarm=0xADDR,spans=N]
 *                                 [,flash=0xORIGIN:0xSIZE[,icache=LINE:SETS:WAYS][,dcache=LINE:SETS:WAYS]]
 *
 * mark   entry address of em_board_ticks(): every execution of the TB that starts there ends a
 *        segment, so segments line up with the firmware's own tick readings.
 * arm    entry address of a function that starts a recorded span (em_board_ticks_sync() before a
 *        measurement); without it, recording starts at once.
 * disarm entry address of a function that ends a span (the protocol's reply); the partial segment
 *        since the last mark is dropped. spans=N stops recording after N spans (default 1).
 *
 * Output, one record a line (hex addresses, decimal counts), flushed at every segment end:
 *   T id vaddr n_insns hexbytes   a TB, before the first record that uses it
 *   c id execs taken              a TB's executions in the segment; taken = times the next TB did
 *                                 not start right after it (a branch was taken)
 *   x id vaddr count              the next TB started strictly inside this TB's range: either a
 *                                 branch back into it or an execution cut short (QEMU re-runs an
 *                                 I/O access as its own block under -icount; cycles.py decides)
 *   m dreads dmiss ilines imiss imiss_seq
 *                                 with flash=: the segment's memory traffic to the flash region --
 *                                 data loads from flash, those that missed the LRU data cache (all of
 *                                 them without dcache=), instruction lines fetched from flash (one per
 *                                 line a TB spans, per execution), those that missed the LRU
 *                                 instruction cache, and of those the ones on the line right after the
 *                                 previously fetched one (what a sequential prefetcher can hide)
 *   S start_key end_key           segment end; keys are the return address of the call that
 *                                 reached the mark (0 = span start)
 *   B / E                         span begin / end
 * Memory callbacks are registered for loads AND stores (QEMU_PLUGIN_MEM_RW): read-only callbacks were
 * seen to miss loads from flash in this QEMU; stores are then skipped here. The caches are simulated
 * here, in C: bench-kernels' weights-in-flash run (~295 M instructions, ~48 M flash loads) takes 1.9 s
 * in QEMU without the plugin, 3.5 s with the TB trace and 12.1 s with the memory model as well -- a
 * per-access Python path would not keep up with ~30 M loads a window.
 * The single M-profile vCPU runs the callbacks one at a time, so no locking is needed.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "qemu_plugin_api.h"

QEMU_PLUGIN_EXPORT int qemu_plugin_version = QEMU_PLUGIN_VERSION;

typedef struct inside_edge {
    uint64_t vaddr;
    uint64_t count;
    struct inside_edge *next;
} inside_edge;

typedef struct tb_info {
    uint64_t id, vaddr, end;
    uint64_t execs, taken;      /* in the current segment */
    inside_edge *inside;        /* in the current segment */
    int touched, written;
    size_t n_insns, n_bytes;
    uint8_t *bytes;
} tb_info;

static FILE *g_out;
static uint64_t g_mark, g_arm, g_disarm;
static long g_spans_left = 1;
static int g_recording, g_done;
static uint64_t g_next_id, g_seg_start_key;
static tb_info *g_prev;
static tb_info **g_touched;
static size_t g_n_touched, g_cap_touched;

/* ---------------------------------------------------------------- memory model (flash + caches) */
typedef struct cache {
    uint64_t line_shift, sets, ways;
    uint64_t *tags; /* sets x ways, most recently used first; ~0 = empty */
} cache;

static int g_mem; /* flash= given */
static uint64_t g_flash_lo, g_flash_hi;
static cache g_icache, g_dcache;   /* ways == 0: no cache (every access misses) */
static uint64_t g_iline_shift = 4; /* instruction-line granule without icache= (16 B, a 128-bit read) */
static uint64_t g_dreads, g_dmiss, g_ilines, g_imiss, g_imiss_seq;
static uint64_t g_last_iline = ~(uint64_t)0;

static int cache_init(cache *c, const char *spec) {
    unsigned long line, sets, ways;
    if (sscanf(spec, "%lu:%lu:%lu", &line, &sets, &ways) != 3 || !line || !sets || !ways) return 0;
    if (line & (line - 1)) return 0;
    c->line_shift = 0;
    while ((1UL << c->line_shift) < line) c->line_shift++;
    c->sets = sets;
    c->ways = ways;
    c->tags = malloc(sets * ways * sizeof *c->tags);
    if (!c->tags) abort();
    memset(c->tags, 0xff, sets * ways * sizeof *c->tags);
    return 1;
}

/* LRU lookup of a line; returns 1 on a hit. The line is then the set's most recently used. */
static int cache_access(cache *c, uint64_t line) {
    if (!c->ways) return 0;
    uint64_t *set = c->tags + (line % c->sets) * c->ways;
    uint64_t k = 0;
    while (k < c->ways && set[k] != line) ++k;
    int hit = k < c->ways;
    if (!hit) k = c->ways - 1; /* evict the least recently used */
    memmove(set + 1, set, k * sizeof *set);
    set[0] = line;
    return hit;
}

static inline int in_flash(uint64_t a) { return a >= g_flash_lo && a < g_flash_hi; }

static void mem_reset(void) { g_dreads = g_dmiss = g_ilines = g_imiss = g_imiss_seq = 0; }

static void vcpu_mem(unsigned int vcpu_index, qemu_plugin_meminfo_t info, uint64_t vaddr, void *udata) {
    (void)vcpu_index;
    (void)udata;
    if (!g_recording || g_done || qemu_plugin_mem_is_store(info) || !in_flash(vaddr)) return;
    g_dreads++;
    if (!cache_access(&g_dcache, vaddr >> g_dcache.line_shift)) g_dmiss++;
}

/* The instruction lines a TB's execution fetches from flash, in order. */
static void fetch_tb_lines(const tb_info *tb) {
    if (!in_flash(tb->vaddr)) return;
    uint64_t shift = g_icache.ways ? g_icache.line_shift : g_iline_shift;
    for (uint64_t l = tb->vaddr >> shift; l <= (tb->end - 1) >> shift; ++l) {
        if (l == g_last_iline) continue; /* still in the fetch buffer */
        g_ilines++;
        if (!cache_access(&g_icache, l)) {
            g_imiss++;
            if (l == g_last_iline + 1) g_imiss_seq++;
        }
        g_last_iline = l;
    }
}

static void touch(tb_info *tb) {
    if (tb->touched) return;
    if (g_n_touched == g_cap_touched) {
        g_cap_touched = g_cap_touched ? 2 * g_cap_touched : 1024;
        g_touched = realloc(g_touched, g_cap_touched * sizeof *g_touched);
        if (!g_touched) abort();
    }
    g_touched[g_n_touched++] = tb;
    tb->touched = 1;
}

static void clear_touched(int write) {
    for (size_t i = 0; i < g_n_touched; ++i) {
        tb_info *tb = g_touched[i];
        if (write && !tb->written) {
            fprintf(g_out, "T %" PRIu64 " %" PRIx64 " %zu ", tb->id, tb->vaddr, tb->n_insns);
            for (size_t k = 0; k < tb->n_bytes; ++k) fprintf(g_out, "%02x", tb->bytes[k]);
            fputc('\n', g_out);
            tb->written = 1;
        }
        if (write) fprintf(g_out, "c %" PRIu64 " %" PRIu64 " %" PRIu64 "\n", tb->id, tb->execs, tb->taken);
        for (inside_edge *e = tb->inside, *nx; e; e = nx) {
            nx = e->next;
            if (write) fprintf(g_out, "x %" PRIu64 " %" PRIx64 " %" PRIu64 "\n", tb->id, e->vaddr, e->count);
            free(e);
        }
        tb->inside = NULL;
        tb->execs = tb->taken = 0;
        tb->touched = 0;
    }
    g_n_touched = 0;
}

static void note_inside(tb_info *prev, uint64_t vaddr) {
    for (inside_edge *e = prev->inside; e; e = e->next) {
        if (e->vaddr == vaddr) {
            e->count++;
            return;
        }
    }
    inside_edge *e = calloc(1, sizeof *e);
    if (!e) abort();
    e->vaddr = vaddr;
    e->count = 1;
    e->next = prev->inside;
    prev->inside = e;
}

static void vcpu_tb_exec(unsigned int vcpu_index, void *udata) {
    tb_info *tb = udata;
    (void)vcpu_index;
    if (g_done) return;
    if (g_recording && g_prev) {
        if (tb->vaddr != g_prev->end) g_prev->taken++;
        if (tb->vaddr > g_prev->vaddr && tb->vaddr < g_prev->end) note_inside(g_prev, tb->vaddr);
    }
    if (g_recording && tb->vaddr == g_mark) {
        uint64_t key = g_prev ? g_prev->end : 0; /* the return address of the call */
        clear_touched(1);
        if (g_mem) {
            fprintf(g_out, "m %" PRIu64 " %" PRIu64 " %" PRIu64 " %" PRIu64 " %" PRIu64 "\n", g_dreads, g_dmiss,
                    g_ilines, g_imiss, g_imiss_seq);
            mem_reset();
        }
        fprintf(g_out, "S %" PRIx64 " %" PRIx64 "\n", g_seg_start_key, key);
        fflush(g_out);
        g_seg_start_key = key;
    }
    if (!g_recording && g_arm && tb->vaddr == g_arm) {
        g_recording = 1;
        g_seg_start_key = 0;
        mem_reset();
        fputs("B\n", g_out);
    } else if (g_recording && g_disarm && tb->vaddr == g_disarm) {
        clear_touched(0);
        fputs("E\n", g_out);
        fflush(g_out);
        g_recording = 0;
        g_prev = NULL;
        if (--g_spans_left <= 0) g_done = 1;
        return;
    }
    if (!g_recording) return;
    if (g_mem) fetch_tb_lines(tb);
    tb->execs++;
    touch(tb);
    g_prev = tb;
}

/* Bytes of instruction idx. QEMU 7.2 appends the halfword the Thumb translator reads ahead at a
 * page end to the last instruction's data, so sizes come from addresses and, for the last one,
 * from its encoding (a first halfword 0b11101/0b11110/0b11111... starts a 32-bit instruction). */
static size_t insn_bytes(const struct qemu_plugin_tb *qtb, size_t idx, size_t n) {
    struct qemu_plugin_insn *insn = qemu_plugin_tb_get_insn(qtb, idx);
    if (idx + 1 < n) {
        return (size_t)(qemu_plugin_insn_vaddr(qemu_plugin_tb_get_insn(qtb, idx + 1)) - qemu_plugin_insn_vaddr(insn));
    }
    const uint8_t *d = qemu_plugin_insn_data(insn);
    uint16_t hw = (uint16_t)(d[0] | (d[1] << 8));
    size_t sz = (hw >> 11) >= 0x1d ? 4 : 2;
    size_t have = qemu_plugin_insn_size(insn);
    return sz < have ? sz : have;
}

static void vcpu_tb_trans(qemu_plugin_id_t id, struct qemu_plugin_tb *qtb) {
    size_t n = qemu_plugin_tb_n_insns(qtb);
    (void)id;
    if (n == 0) return;
    tb_info *tb = calloc(1, sizeof *tb);
    if (!tb) abort();
    tb->id = g_next_id++;
    tb->vaddr = qemu_plugin_tb_vaddr(qtb);
    tb->n_insns = n;
    for (size_t i = 0; i < n; ++i) tb->n_bytes += insn_bytes(qtb, i, n);
    tb->bytes = malloc(tb->n_bytes);
    if (!tb->bytes) abort();
    size_t off = 0;
    for (size_t i = 0; i < n; ++i) {
        size_t sz = insn_bytes(qtb, i, n);
        memcpy(tb->bytes + off, qemu_plugin_insn_data(qemu_plugin_tb_get_insn(qtb, i)), sz);
        off += sz;
    }
    tb->end = tb->vaddr + tb->n_bytes;
    if (g_mem) {
        for (size_t i = 0; i < n; ++i) {
            qemu_plugin_register_vcpu_mem_cb(qemu_plugin_tb_get_insn(qtb, i), vcpu_mem, QEMU_PLUGIN_CB_NO_REGS,
                                             QEMU_PLUGIN_MEM_RW, NULL);
        }
    }
    qemu_plugin_register_vcpu_tb_exec_cb(qtb, vcpu_tb_exec, QEMU_PLUGIN_CB_NO_REGS, tb);
}

static void plugin_exit(qemu_plugin_id_t id, void *p) {
    (void)id;
    (void)p;
    if (g_out) {
        if (g_recording && !g_done) fputs("E\n", g_out);
        fclose(g_out);
        g_out = NULL;
    }
}

static int parse_addr(const char *s, uint64_t *out) {
    char *end;
    *out = strtoull(s, &end, 0) & ~(uint64_t)1; /* Thumb function symbols carry bit 0 */
    return *end == '\0';
}

QEMU_PLUGIN_EXPORT int qemu_plugin_install(qemu_plugin_id_t id, const qemu_info_t *info, int argc, char **argv) {
    const char *out = NULL;
    (void)info;
    for (int i = 0; i < argc; ++i) {
        const char *a = argv[i];
        int ok = 1;
        if (strncmp(a, "out=", 4) == 0) out = a + 4;
        else if (strncmp(a, "mark=", 5) == 0) ok = parse_addr(a + 5, &g_mark);
        else if (strncmp(a, "arm=", 4) == 0) ok = parse_addr(a + 4, &g_arm);
        else if (strncmp(a, "disarm=", 7) == 0) ok = parse_addr(a + 7, &g_disarm);
        else if (strncmp(a, "spans=", 6) == 0) g_spans_left = strtol(a + 6, NULL, 10);
        else if (strncmp(a, "flash=", 6) == 0) {
            unsigned long long lo, size;
            ok = sscanf(a + 6, "%lli:%lli", &lo, &size) == 2 && size > 0;
            g_flash_lo = lo;
            g_flash_hi = lo + size;
            g_mem = ok;
        } else if (strncmp(a, "icache=", 7) == 0) ok = cache_init(&g_icache, a + 7);
        else if (strncmp(a, "dcache=", 7) == 0) ok = cache_init(&g_dcache, a + 7);
        else ok = 0;
        if (!ok) {
            fprintf(stderr, "tbtrace: bad argument '%s'\n", a);
            return -1;
        }
    }
    if (!out || !g_mark) {
        fprintf(stderr, "tbtrace: out=FILE and mark=ADDR are required\n");
        return -1;
    }
    g_out = fopen(out, "w");
    if (!g_out) {
        fprintf(stderr, "tbtrace: cannot write %s\n", out);
        return -1;
    }
    setvbuf(g_out, NULL, _IOFBF, 1 << 20);
    if (!g_arm) {
        g_recording = 1;
        fputs("B\n", g_out);
    }
    qemu_plugin_register_vcpu_tb_trans_cb(id, vcpu_tb_trans);
    qemu_plugin_register_atexit_cb(id, plugin_exit, NULL);
    return 0;
}
