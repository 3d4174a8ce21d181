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
 *   decode=1      with classes=1: log "insn <addr> <class>" for each instruction translated
 *                 (a check of the decoder against a disassembler: tests/emulators)
 *   classes=1     also count executed instructions by class (mode=insn only): each mark line
 *                 then carries the running class counters after <count>, in the order of the
 *                 "classes" line written first; "classcounts <c0> <c1> ..." is written at exit
 * At exit: "total <count>".
 *
 * Classes (classes=1). Every instruction is decoded once, when QEMU translates its block, from
 * its Thumb-2 bytes; at run time a class costs one inline add, like the total. The first
 * N_CLASSES counters partition the instructions (their sum is the total); the others are extras:
 *   load_store           LDR/STR of one item (byte, half, word; LDREX/STREX; PLD), VLDR/VSTR
 *   load_store_multiple  LDM/STM/PUSH/POP, VLDM/VSTM/VPUSH/VPOP, LDRD/STRD (two words)
 *   multiply             MUL, MLA, MLS, SMULL, UMULL, SMLAL, UMLAL (ARMv7-M base multiplies)
 *   dsp                  the ARMv7E-M DSP extension: SMLAD & co, SMULxy/SMLAxy/SMULWy/SMLAWy,
 *                        SMMUL/SMMLA, SMLALxy/SMLALD/UMAAL, SIMD add/sub (SADD16, UQSUB8...),
 *                        QADD/QSUB/QDADD/QDSUB, SEL, USAD8, SSAT16/USAT16, PKHBT/PKHTB,
 *                        SXTB16/UXTB16 and the extend-and-add forms (SXTAB, UXTAH, SXTAB16...)
 *   divide               SDIV, UDIV
 *   fpu                  VFP data processing but for the ones below (VADD, VSUB, VMUL, VNMUL,
 *                        VABS, VNEG, VCVT, VCMP, VMOV in all its forms, VMRS, VMSR, VSEL...)
 *   fpu_mac              VMLA, VMLS, VNMLA, VNMLS, VFMA, VFMS, VFNMA, VFNMS
 *   fpu_div              VDIV, VSQRT
 *   branch               B, BL, BX, BLX, CBZ, CBNZ, TBB, TBH, MOV/ADD with PC as destination
 *   other                everything else (data processing, IT, hints, barriers...)
 * Extras:
 *   load_store_pipelined  load_store instructions that the Cortex-M4 completes in one cycle:
 *                         a store with an immediate offset, or a load or store directly after a
 *                         load of the same block whose address does not use that load's result
 *                         (nor its updated base), unless it is itself a load updating its base
 *   multiple_regs         words moved by the load_store_multiple instructions
 *   branch_taken          executed instructions that changed the flow: every unconditional
 *                         branch and PC-writing load (POP {..pc}, LDR pc), and each conditional
 *                         one (B<c>, CBZ/CBNZ, any branch inside an IT block) whose next executed
 *                         block does not start right after it. QEMU ends a block at every write
 *                         to the PC, so a conditional branch is always the last instruction of
 *                         its block; one callback per executed block compares its start with the
 *                         fall-through address of the block run before it. */
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

enum insn_class {
    C_LOAD_STORE,
    C_LOAD_STORE_MULTIPLE,
    C_MULTIPLY,
    C_DSP,
    C_DIVIDE,
    C_FPU,
    C_FPU_MAC,
    C_FPU_DIV,
    C_BRANCH,
    C_OTHER,
    N_CLASSES,
    X_PIPELINED = N_CLASSES, /* extras, not a partition */
    X_MULTIPLE_REGS,
    X_BRANCH_TAKEN,
    N_COUNTERS
};

static const char *const counter_names[N_COUNTERS] = {
    "load_store", "load_store_multiple", "multiply", "dsp", "divide", "fpu", "fpu_mac", "fpu_div",
    "branch", "other", "load_store_pipelined", "multiple_regs", "branch_taken",
};

enum flow { FLOW_NONE, FLOW_ALWAYS, FLOW_CONDITIONAL };

/* What the translation-time decoder learns about one instruction. */
struct decoded {
    enum insn_class cls;
    unsigned words;       /* load_store_multiple: 32-bit words transferred */
    enum flow flow;       /* writes the PC: always, or only under a condition (before IT) */
    int load;             /* load_store: a load (1) or a store (0) */
    int store_imm;        /* load_store: a store with an immediate offset (one cycle on the M4) */
    int pipelinable;      /* load_store: an LDR/STR form that can follow a load in one cycle */
    int writeback;        /* load_store: the base register is updated (pre/post-indexed) */
    int rn, rm, rt;       /* load_store: address registers and core destination, -1 if none */
    unsigned it_len;      /* IT: the number of instructions it makes conditional */
};

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
static int classes;
static int decode_log;
static uint64_t counters[N_COUNTERS];
/* Fall-through address of the last executed block if it ended in a conditional flow change,
 * else 0 (one vCPU: the boards are single-core). */
static uint64_t pending_fallthrough;

/* Blocks' start and fall-through addresses for the taken-branch callback, in chunks that never
 * move (the callback holds pointers into them). */
struct tb_flow {
    uint64_t vaddr;
    uint64_t cond_fallthrough; /* 0: the block does not end in a conditional flow change */
};

struct flow_chunk {
    struct flow_chunk *next;
    size_t used;
    struct tb_flow entry[TB_CHUNK];
};

static struct flow_chunk *flow_chunks;

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

static void write_counters(void)
{
    for (size_t c = 0; c < N_COUNTERS; ++c) {
        fprintf(out, " %" PRIu64, counters[c]);
    }
}

static void write_results(void)
{
    fprintf(out, "total %" PRIu64 "\n", insn_count);
    if (classes) {
        fputs("classcounts", out);
        write_counters();
        fputc('\n', out);
    }
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
    fprintf(out, "mark 0x%" PRIx64 " %" PRIu64, (uint64_t)(uintptr_t)udata, insn_count);
    if (classes) {
        write_counters();
    }
    fputc('\n', out);
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

static struct tb_flow *new_tb_flow(uint64_t vaddr, uint64_t cond_fallthrough)
{
    pthread_mutex_lock(&lock);
    if (flow_chunks == NULL || flow_chunks->used == TB_CHUNK) {
        struct flow_chunk *c = calloc(1, sizeof *c);
        if (c == NULL) {
            pthread_mutex_unlock(&lock);
            return NULL;
        }
        c->next = flow_chunks;
        flow_chunks = c;
    }
    struct tb_flow *e = &flow_chunks->entry[flow_chunks->used++];
    e->vaddr = vaddr;
    e->cond_fallthrough = cond_fallthrough;
    pthread_mutex_unlock(&lock);
    return e;
}

static unsigned popcount16(unsigned v)
{
    return (unsigned)__builtin_popcount(v & 0xFFFFu);
}

static void single(struct decoded *d, int load, int rn, int rm, int rt, int store_imm)
{
    d->cls = C_LOAD_STORE;
    d->load = load;
    d->rn = rn;
    d->rm = rm;
    d->rt = rt;
    d->store_imm = store_imm;
    d->pipelinable = 1;
}

static void multiple(struct decoded *d, unsigned words)
{
    d->cls = C_LOAD_STORE_MULTIPLE;
    d->words = words;
}

/* A 16-bit Thumb instruction (ARMv7-M Architecture Reference Manual, A5.2). */
static void decode16(unsigned hw, struct decoded *d)
{
    if ((hw & 0xFFC0u) == 0x4340u) {                 /* MULS */
        d->cls = C_MULTIPLY;
    } else if ((hw & 0xFC00u) == 0x4400u) {          /* special data processing, BX/BLX */
        const unsigned op = (hw >> 6) & 0xFu;
        const unsigned rd = ((hw >> 4) & 0x8u) | (hw & 0x7u);
        if (op >= 0xCu || ((op < 4u || (op & 0xCu) == 0x8u) && rd == 15u)) {
            d->cls = C_BRANCH;                       /* BX, BLX, ADD pc / MOV pc */
            d->flow = FLOW_ALWAYS;
        }
    } else if ((hw & 0xF800u) == 0x4800u) {          /* LDR literal */
        single(d, 1, 15, -1, (int)((hw >> 8) & 7u), 0);
    } else if ((hw & 0xF000u) == 0x5000u) {          /* LDR/STR register offset */
        const unsigned op = (hw >> 9) & 7u;
        single(d, op >= 3u, (int)((hw >> 3) & 7u), (int)((hw >> 6) & 7u), (int)(hw & 7u), 0);
    } else if ((hw & 0xE000u) == 0x6000u || (hw & 0xF000u) == 0x8000u) { /* immediate offset */
        const int load = (hw >> 11) & 1u;
        single(d, load, (int)((hw >> 3) & 7u), -1, (int)(hw & 7u), !load);
    } else if ((hw & 0xF000u) == 0x9000u) {          /* SP-relative */
        const int load = (hw >> 11) & 1u;
        single(d, load, 13, -1, (int)((hw >> 8) & 7u), !load);
    } else if ((hw & 0xF500u) == 0xB100u) {          /* CBZ, CBNZ */
        d->cls = C_BRANCH;
        d->flow = FLOW_CONDITIONAL;
    } else if ((hw & 0xFE00u) == 0xB400u) {          /* PUSH */
        multiple(d, popcount16(hw & 0x1FFu));
    } else if ((hw & 0xFE00u) == 0xBC00u) {          /* POP */
        multiple(d, popcount16(hw & 0x1FFu));
        if (hw & 0x100u) {
            d->flow = FLOW_ALWAYS;
        }
    } else if ((hw & 0xFF00u) == 0xBF00u && (hw & 0xFu) != 0u) { /* IT */
        d->it_len = 4u - (unsigned)__builtin_ctz(hw & 0xFu);
    } else if ((hw & 0xF000u) == 0xC000u) {          /* STM, LDM */
        multiple(d, popcount16(hw & 0xFFu));
    } else if ((hw & 0xF000u) == 0xD000u && ((hw >> 8) & 0xFu) < 0xEu) { /* B<c> */
        d->cls = C_BRANCH;
        d->flow = FLOW_CONDITIONAL;
    } else if ((hw & 0xF800u) == 0xE000u) {          /* B */
        d->cls = C_BRANCH;
        d->flow = FLOW_ALWAYS;
    }
}

/* Floating-point (coprocessors 10 and 11) instructions (ARMv7-M ARM, A6.4, A6.5). */
static void decode_fp(unsigned hw1, unsigned hw2, struct decoded *d)
{
    if ((hw1 & 0xEE00u) == 0xEC00u) {                /* extension register load/store */
        if ((hw1 & 0x01E0u) == 0x0040u) {            /* VMOV two core registers */
            d->cls = C_FPU;
        } else if ((hw1 & 0x0120u) == 0x0100u) {     /* VLDR, VSTR */
            const int load = (hw1 >> 4) & 1u;
            single(d, load, (int)(hw1 & 0xFu), -1, -1, !load);
        } else {                                     /* VLDM, VSTM, VPUSH, VPOP */
            multiple(d, hw2 & 0xFFu);
        }
    } else if ((hw1 & 0xEF00u) == 0xEE00u && (hw2 & 0x10u) == 0u && (hw1 & 0x1000u) == 0u) {
        const unsigned p = (hw1 >> 7) & 1u, q = (hw1 >> 4) & 3u;
        if (p == 0u) {
            d->cls = q < 2u ? C_FPU_MAC : C_FPU;     /* VMLA/VMLS/VNMLA/VNMLS; VMUL, VADD */
        } else if (q == 0u) {
            d->cls = C_FPU_DIV;                      /* VDIV */
        } else if (q != 3u) {
            d->cls = C_FPU_MAC;                      /* VFMA, VFMS, VFNMA, VFNMS */
        } else if ((hw1 & 0xFu) == 1u && ((hw2 >> 6) & 3u) == 3u) {
            d->cls = C_FPU_DIV;                      /* VSQRT */
        } else {
            d->cls = C_FPU;                          /* VMOV, VABS, VNEG, VCMP, VCVT */
        }
    } else {
        d->cls = C_FPU;                              /* VMOV core<->S, VMRS, VMSR, VSEL, ... */
    }
}

/* A 32-bit Thumb-2 instruction (ARMv7-M ARM, A5.3). */
static void decode32(unsigned hw1, unsigned hw2, struct decoded *d)
{
    if ((hw1 & 0xEC00u) == 0xEC00u) {                /* coprocessor space */
        if (((hw2 >> 9) & 7u) == 5u) {
            decode_fp(hw1, hw2, d);
        }
        return;
    }
    if ((hw1 & 0xFE40u) == 0xE800u) {                /* LDM, STM, PUSH.W, POP.W */
        multiple(d, popcount16(hw2));
        if ((hw1 & 0x10u) && (hw2 & 0x8000u)) {
            d->flow = FLOW_ALWAYS;
        }
        return;
    }
    if ((hw1 & 0xFE40u) == 0xE840u) {                /* dual, exclusive, table branch */
        const unsigned op1 = (hw1 >> 7) & 3u, op2 = (hw1 >> 4) & 3u;
        if (op1 >= 2u || op2 >= 2u) {
            multiple(d, 2);                          /* LDRD, STRD */
        } else if (op1 == 1u && op2 == 1u && ((hw2 >> 4) & 0xEu) == 0u) {
            d->cls = C_BRANCH;                       /* TBB, TBH */
            d->flow = FLOW_ALWAYS;
        } else {
            single(d, op2 & 1u, (int)(hw1 & 0xFu), -1, (int)((hw2 >> 12) & 0xFu), 0);
            d->pipelinable = 0;                      /* LDREX, STREX and kin */
        }
        return;
    }
    if ((hw1 & 0xFE00u) == 0xEA00u) {                /* data processing (shifted register) */
        if (((hw1 >> 5) & 0xFu) == 6u) {
            d->cls = C_DSP;                          /* PKHBT, PKHTB */
        }
        return;
    }
    if ((hw1 & 0xF800u) == 0xF000u) {
        if (hw2 & 0x8000u) {                         /* branches and miscellaneous control */
            const unsigned op = (hw2 >> 12) & 5u;
            if (op == 0u && ((hw1 >> 7) & 7u) != 7u) {
                d->cls = C_BRANCH;                   /* B<c>.W */
                d->flow = FLOW_CONDITIONAL;
            } else if (op == 1u || op == 5u) {
                d->cls = C_BRANCH;                   /* B.W, BL */
                d->flow = FLOW_ALWAYS;
            }
        } else if ((hw1 & 0x0200u) != 0u) {          /* plain binary immediate */
            const unsigned op = (hw1 >> 4) & 0x1Fu;
            if ((op == 0x12u || op == 0x1Au) && (hw2 & 0x70C0u) == 0u) {
                d->cls = C_DSP;                      /* SSAT16, USAT16 */
            }
        }
        return;
    }
    /* hw1 = 1111 1xxx */
    const unsigned op2 = (hw1 >> 4) & 0x7Fu;
    if ((op2 & 0x71u) == 0x00u || (op2 & 0x67u) == 0x01u || (op2 & 0x67u) == 0x03u
        || (op2 & 0x67u) == 0x05u) {                 /* load/store single */
        const int load = op2 & 1u;
        const int rn = (int)(hw1 & 0xFu), rt = (int)((hw2 >> 12) & 0xFu);
        const int imm12 = (hw1 & 0x80u) != 0u || rn == 15;
        const int regoff = !imm12 && (hw2 & 0x0FC0u) == 0u;
        single(d, load, rn, regoff ? (int)(hw2 & 0xFu) : -1, rt, !load && !regoff);
        /* imm8 forms (hw2 = 1 P U W imm8): post-indexed (P = 0) or pre-indexed with W = 1 */
        d->writeback = !imm12 && !regoff && (hw2 & 0x0800u) && ((hw2 & 0x0100u) || !(hw2 & 0x0400u));
        if (load && ((op2 >> 1) & 3u) == 2u && rt == 15) {
            d->flow = FLOW_ALWAYS;                   /* LDR pc */
            d->pipelinable = 0;
        }
        return;
    }
    if ((op2 & 0x70u) == 0x20u) {                    /* data processing (register) */
        const unsigned a = op2 & 0xFu, b = (hw2 >> 4) & 0xFu;
        const unsigned rn = hw1 & 0xFu;
        if (a < 6u && (b & 8u)) {                    /* extends */
            if (rn != 15u || a == 2u || a == 3u) {
                d->cls = C_DSP;                      /* extend-and-add, SXTB16, UXTB16 */
            }
        } else if ((a & 8u) && (b & 8u) == 0u) {
            d->cls = C_DSP;                          /* parallel add/subtract */
        } else if ((a & 0xCu) == 8u && (b & 0xCu) == 8u) {
            const unsigned m = ((a & 3u) << 2) | (b & 3u);
            if (m <= 3u || m == 8u) {
                d->cls = C_DSP;                      /* QADD, QDADD, QSUB, QDSUB, SEL */
            }
        }
        return;
    }
    if ((op2 & 0x78u) == 0x30u) {                    /* multiply, multiply accumulate, USAD8 */
        const unsigned a = op2 & 7u, b = (hw2 >> 4) & 3u;
        d->cls = (a == 0u && b < 2u) ? C_MULTIPLY : C_DSP;
        return;
    }
    if ((op2 & 0x78u) == 0x38u) {                    /* long multiply, divide */
        const unsigned a = op2 & 7u, b = (hw2 >> 4) & 0xFu;
        if (b == 0xFu) {
            d->cls = C_DIVIDE;
        } else if (b == 0u && (a == 0u || a == 2u || a == 4u || a == 6u)) {
            d->cls = C_MULTIPLY;                     /* SMULL, UMULL, SMLAL, UMLAL */
        } else {
            d->cls = C_DSP;                          /* SMLALxy, SMLALD, SMLSLD, UMAAL */
        }
    }
}

/* The instruction's width in bytes, from its first halfword (ARMv7-M ARM, A5.1). QEMU 7.2's
 * instruction data can hold more bytes than the instruction: its Thumb translator reads the
 * next halfword too near the end of a page, and qemu_plugin_insn_size() then says 4 for a
 * 16-bit instruction, so the size is never taken from there. */
static size_t thumb_size(unsigned hw1)
{
    return (hw1 >> 11) >= 0x1Du ? 4u : 2u;
}

/* Decode the instruction at the start of `bytes` (little-endian halfwords; 4 bytes, zero
 * beyond what QEMU gave). */
static struct decoded decode(const uint8_t *bytes)
{
    struct decoded d = {.cls = C_OTHER, .rn = -1, .rm = -1, .rt = -1};
    const unsigned hw1 = (unsigned)bytes[0] | ((unsigned)bytes[1] << 8);
    if (thumb_size(hw1) == 4) {
        decode32(hw1, (unsigned)bytes[2] | ((unsigned)bytes[3] << 8), &d);
    } else {
        decode16(hw1, &d);
    }
    return d;
}

static void count_insn(struct qemu_plugin_insn *insn, enum insn_class cls, uint64_t n)
{
    if (n != 0) {
        qemu_plugin_register_vcpu_insn_exec_inline(insn, QEMU_PLUGIN_INLINE_ADD_U64, &counters[cls], n);
    }
}

static void on_tb_exec_flow(unsigned int vcpu, void *udata)
{
    (void)vcpu;
    const struct tb_flow *f = udata;
    if (pending_fallthrough != 0 && f->vaddr != pending_fallthrough) {
        ++counters[X_BRANCH_TAKEN];
    }
    pending_fallthrough = f->cond_fallthrough;
}

/* Register the class counters of a block's instructions and its taken-branch callback. */
static void classify_tb(struct qemu_plugin_tb *tb, size_t n)
{
    struct decoded prev = {.cls = C_OTHER};
    unsigned it_left = 0;
    uint64_t cond_fallthrough = 0;
    for (size_t i = 0; i < n; ++i) {
        struct qemu_plugin_insn *insn = qemu_plugin_tb_get_insn(tb, i);
        const size_t avail = qemu_plugin_insn_size(insn);
        uint8_t bytes[4] = {0};
        memcpy(bytes, qemu_plugin_insn_data(insn), avail < 4 ? avail : 4);
        const size_t size = thumb_size((unsigned)bytes[0] | ((unsigned)bytes[1] << 8));
        struct decoded d = decode(bytes);
        const int conditional = it_left > 0;
        it_left = d.it_len ? d.it_len : (it_left ? it_left - 1 : 0);
        count_insn(insn, d.cls, 1);
        if (decode_log) {
            fprintf(out, "insn 0x%" PRIx64 " %s\n", qemu_plugin_insn_vaddr(insn), counter_names[d.cls]);
        }
        if (d.cls == C_LOAD_STORE_MULTIPLE) {
            count_insn(insn, X_MULTIPLE_REGS, d.words);
        }
        if (d.cls == C_LOAD_STORE && d.pipelinable) {
            /* Cortex-M4 TRM, "Load/store timings": a load or store right after a load loses a
             * cycle unless its address uses what that load wrote (its destination, or its
             * updated base); a load that updates its base is not pipelined itself; a store
             * with an immediate offset always takes one cycle. */
            const int after_load = prev.cls == C_LOAD_STORE && prev.load && prev.pipelinable;
            const int depends = (prev.rt >= 0 && (d.rn == prev.rt || d.rm == prev.rt))
                                || (prev.writeback && (d.rn == prev.rn || d.rm == prev.rn));
            if (d.store_imm || (after_load && !depends && !(d.load && d.writeback))) {
                count_insn(insn, X_PIPELINED, 1);
            }
        }
        if (d.flow != FLOW_NONE) {
            if (d.flow == FLOW_ALWAYS && !conditional) {
                count_insn(insn, X_BRANCH_TAKEN, 1);
            } else {
                cond_fallthrough = qemu_plugin_insn_vaddr(insn) + size;
            }
        }
        prev = d;
    }
    struct tb_flow *f = new_tb_flow(qemu_plugin_tb_vaddr(tb), cond_fallthrough);
    if (f != NULL) {
        qemu_plugin_register_vcpu_tb_exec_cb(tb, on_tb_exec_flow, QEMU_PLUGIN_CB_NO_REGS, f);
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
    if (classes && !per_tb_mode) {
        classify_tb(tb, n);
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
        } else if (klen == 6 && strncmp(arg, "decode", 6) == 0) {
            decode_log = strcmp(v, "0") != 0;
        } else if (klen == 7 && strncmp(arg, "classes", 7) == 0) {
            classes = strcmp(v, "0") != 0;
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
    if (classes) {
        if (per_tb_mode) {
            return fail("classes=1 needs mode=insn", "classes=1");
        }
        fputs("classes", out);
        for (size_t c = 0; c < N_COUNTERS; ++c) {
            fprintf(out, " %s", counter_names[c]);
        }
        fputc('\n', out);
    }
    qemu_plugin_register_vcpu_tb_trans_cb(id, on_tb_trans);
    qemu_plugin_register_atexit_cb(id, on_atexit, NULL);
    return 0;
}
