/* insncount: exact guest instruction counts for the harness (QEMU TCG plugin, API v1).
 *
 * Arguments (-plugin libinsncount.so,out=FILE,...):
 *   out=FILE      where to write the results (required)
 *   mode=insn     one inline add per executed instruction (default; exact even when QEMU
 *                 re-translates a block after an MMIO access under -icount)
 *   mode=tb       one inline add per executed block (cheaper, may over-count a little)
 *   mark=0xADDR   log "mark <addr> <count>" each time the instruction at ADDR executes,
 *                 <count> being the instructions executed before it (repeatable)
 *   profile=1     count instructions per translation-block start address; written at exit
 *                 as "tb <addr> <count>" lines (a block translated twice appears twice)
 *   limit=N       stop the emulator once N instructions have run: writes "limit N", the
 *                 totals, and exits with status 125 (a guard against hung guests)
 * At exit: "total <count>". */
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "qemu_plugin_min.h"

QEMU_PLUGIN_EXPORT int qemu_plugin_version = 1;

#define MAX_MARKS 64
#define TB_CHUNK 4096
#define LIMIT_EXIT_STATUS 125

struct tb_count {
    uint64_t vaddr;
    uint64_t count;
};

/* Per-block counters live in chunks that never move: inline ops hold pointers into them. */
struct tb_chunk {
    struct tb_chunk *next;
    size_t used;
    struct tb_count entry[TB_CHUNK];
};

static uint64_t insn_count;
static FILE *out;
static int per_tb_mode;
static int profile;
static uint64_t limit;
static uint64_t marks[MAX_MARKS];
static size_t n_marks;
static struct tb_chunk *chunks;
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;

static struct tb_count *new_tb_count(uint64_t vaddr)
{
    pthread_mutex_lock(&lock);
    if (chunks == NULL || chunks->used == TB_CHUNK) {
        struct tb_chunk *c = calloc(1, sizeof *c);
        if (c == NULL) {
            pthread_mutex_unlock(&lock);
            return NULL;
        }
        c->next = chunks;
        chunks = c;
    }
    struct tb_count *e = &chunks->entry[chunks->used++];
    e->vaddr = vaddr;
    pthread_mutex_unlock(&lock);
    return e;
}

static void write_results(void)
{
    fprintf(out, "total %" PRIu64 "\n", insn_count);
    for (struct tb_chunk *c = chunks; c != NULL; c = c->next) {
        for (size_t i = 0; i < c->used; ++i) {
            if (c->entry[i].count != 0) {
                fprintf(out, "tb 0x%" PRIx64 " %" PRIu64 "\n", c->entry[i].vaddr, c->entry[i].count);
            }
        }
    }
    fflush(out);
}

static void on_mark(unsigned int vcpu, void *udata)
{
    (void)vcpu;
    fprintf(out, "mark 0x%" PRIx64 " %" PRIu64 "\n", (uint64_t)(uintptr_t)udata, insn_count);
}

static void on_tb_exec_limit(unsigned int vcpu, void *udata)
{
    (void)vcpu;
    (void)udata;
    if (insn_count >= limit) {
        fprintf(out, "limit %" PRIu64 "\n", limit);
        write_results();
        fclose(out);
        _exit(LIMIT_EXIT_STATUS); /* QEMU's own exit path would run the guest on meanwhile */
    }
}

static void on_tb_trans(qemu_plugin_id_t id, struct qemu_plugin_tb *tb)
{
    (void)id;
    const size_t n = qemu_plugin_tb_n_insns(tb);
    struct tb_count *tbc = profile ? new_tb_count(qemu_plugin_tb_vaddr(tb)) : NULL;
    if (limit != 0) {
        qemu_plugin_register_vcpu_tb_exec_cb(tb, on_tb_exec_limit, QEMU_PLUGIN_CB_NO_REGS, NULL);
    }
    for (size_t i = 0; i < n; ++i) {
        struct qemu_plugin_insn *insn = qemu_plugin_tb_get_insn(tb, i);
        const uint64_t pc = qemu_plugin_insn_vaddr(insn);
        for (size_t m = 0; m < n_marks; ++m) {
            if (marks[m] == pc) {
                qemu_plugin_register_vcpu_insn_exec_cb(insn, on_mark, QEMU_PLUGIN_CB_NO_REGS,
                                                       (void *)(uintptr_t)pc);
            }
        }
        if (!per_tb_mode) {
            qemu_plugin_register_vcpu_insn_exec_inline(insn, QEMU_PLUGIN_INLINE_ADD_U64, &insn_count, 1);
        }
        if (tbc != NULL) {
            qemu_plugin_register_vcpu_insn_exec_inline(insn, QEMU_PLUGIN_INLINE_ADD_U64, &tbc->count, 1);
        }
    }
    if (per_tb_mode && n > 0) {
        /* Attach to the first instruction: a v1 tb-level inline op would be equivalent. */
        qemu_plugin_register_vcpu_insn_exec_inline(qemu_plugin_tb_get_insn(tb, 0),
                                                   QEMU_PLUGIN_INLINE_ADD_U64, &insn_count, n);
    }
}

static void on_atexit(qemu_plugin_id_t id, void *udata)
{
    (void)id;
    (void)udata;
    write_results();
    fclose(out);
}

static int fail(const char *what, const char *arg)
{
    char msg[256];
    snprintf(msg, sizeof msg, "insncount: %s: %s\n", what, arg);
    qemu_plugin_outs(msg);
    return -1;
}

QEMU_PLUGIN_EXPORT int qemu_plugin_install(qemu_plugin_id_t id, const qemu_info_t *info,
                                           int argc, char **argv)
{
    (void)info;
    const char *out_path = NULL;
    for (int i = 0; i < argc; ++i) {
        const char *arg = argv[i];
        const char *eq = strchr(arg, '=');
        if (eq == NULL) {
            return fail("argument without '='", arg);
        }
        const size_t klen = (size_t)(eq - arg);
        const char *v = eq + 1;
        char *end = NULL;
        if (klen == 3 && strncmp(arg, "out", 3) == 0) {
            out_path = v;
        } else if (klen == 4 && strncmp(arg, "mode", 4) == 0) {
            if (strcmp(v, "insn") == 0) {
                per_tb_mode = 0;
            } else if (strcmp(v, "tb") == 0) {
                per_tb_mode = 1;
            } else {
                return fail("mode must be insn or tb", arg);
            }
        } else if (klen == 4 && strncmp(arg, "mark", 4) == 0) {
            if (n_marks == MAX_MARKS) {
                return fail("too many marks", arg);
            }
            const uint64_t addr = strtoull(v, &end, 0);
            if (end == v || *end != '\0') {
                return fail("bad mark address", arg);
            }
            marks[n_marks++] = addr & ~(uint64_t)1; /* Thumb bit */
        } else if (klen == 7 && strncmp(arg, "profile", 7) == 0) {
            profile = strcmp(v, "0") != 0;
        } else if (klen == 5 && strncmp(arg, "limit", 5) == 0) {
            limit = strtoull(v, &end, 0);
            if (end == v || *end != '\0') {
                return fail("bad limit", arg);
            }
        } else {
            return fail("unknown argument", arg);
        }
    }
    if (out_path == NULL) {
        return fail("missing argument", "out=FILE");
    }
    out = fopen(out_path, "w");
    if (out == NULL) {
        return fail("cannot open", out_path);
    }
    qemu_plugin_register_vcpu_tb_trans_cb(id, on_tb_trans);
    qemu_plugin_register_atexit_cb(id, on_atexit, NULL);
    return 0;
}
