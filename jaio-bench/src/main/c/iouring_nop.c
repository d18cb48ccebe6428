/*
 * io_uring NOP cost per request in C, the baseline of IoUringNopBenchmark: the same loop as its
 * raw* benchmarks (fill BATCH SQEs, one io_uring_enter(BATCH, BATCH, GETEVENTS), drain the CQ),
 * with raw syscalls (no liburing). Usage: iouring_nop BATCH [SECONDS_PER_ROUND] [ROUNDS].
 * Prints ns per NOP for each round, then the median.
 */
#define _GNU_SOURCE
#include <linux/io_uring.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

static int ring_fd;
static unsigned *sq_head, *sq_tail, *sq_mask, *sq_array;
static unsigned *cq_head, *cq_tail, *cq_mask;
static struct io_uring_sqe *sqes;
static struct io_uring_cqe *cqes;

static void die(const char *what) { perror(what); exit(1); }

static void setup(unsigned entries) {
    struct io_uring_params p;
    memset(&p, 0, sizeof p);
    ring_fd = (int) syscall(__NR_io_uring_setup, entries, &p);
    if (ring_fd < 0) die("io_uring_setup");
    size_t sq_sz = p.sq_off.array + p.sq_entries * sizeof(unsigned);
    size_t cq_sz = p.cq_off.cqes + p.cq_entries * sizeof(struct io_uring_cqe);
    if (p.features & IORING_FEAT_SINGLE_MMAP) { if (cq_sz > sq_sz) sq_sz = cq_sz; cq_sz = sq_sz; }
    char *sq = mmap(0, sq_sz, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, ring_fd, IORING_OFF_SQ_RING);
    if (sq == MAP_FAILED) die("mmap sq");
    char *cq = sq;
    if (!(p.features & IORING_FEAT_SINGLE_MMAP)) {
        cq = mmap(0, cq_sz, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, ring_fd, IORING_OFF_CQ_RING);
        if (cq == MAP_FAILED) die("mmap cq");
    }
    sqes = mmap(0, p.sq_entries * sizeof(struct io_uring_sqe), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE,
                ring_fd, IORING_OFF_SQES);
    if (sqes == MAP_FAILED) die("mmap sqes");
    sq_head = (unsigned *) (sq + p.sq_off.head);
    sq_tail = (unsigned *) (sq + p.sq_off.tail);
    sq_mask = (unsigned *) (sq + p.sq_off.ring_mask);
    sq_array = (unsigned *) (sq + p.sq_off.array);
    cq_head = (unsigned *) (cq + p.cq_off.head);
    cq_tail = (unsigned *) (cq + p.cq_off.tail);
    cq_mask = (unsigned *) (cq + p.cq_off.ring_mask);
    cqes = (struct io_uring_cqe *) (cq + p.cq_off.cqes);
}

static uint64_t reaped;

static void batch(unsigned n) {
    unsigned tail = *sq_tail;
    for (unsigned i = 0; i < n; i++) {
        unsigned idx = (tail + i) & *sq_mask;
        struct io_uring_sqe *s = &sqes[idx];
        memset(s, 0, sizeof *s);
        s->opcode = IORING_OP_NOP;
        s->user_data = i + 1;
        sq_array[idx] = idx;
    }
    atomic_store_explicit((_Atomic unsigned *) sq_tail, tail + n, memory_order_release);
    uint64_t target = reaped + n;
    unsigned to_submit = n;
    while (reaped != target) {
        long r = syscall(__NR_io_uring_enter, ring_fd, to_submit, (unsigned) (target - reaped),
                         IORING_ENTER_GETEVENTS, NULL, 0);
        if (r < 0) die("io_uring_enter");
        to_submit = 0;
        unsigned head = *cq_head;
        unsigned ctail = atomic_load_explicit((_Atomic unsigned *) cq_tail, memory_order_acquire);
        while (head != ctail) {
            struct io_uring_cqe *c = &cqes[head & *cq_mask];
            if (c->res != 0) { fprintf(stderr, "NOP res %d\n", c->res); exit(1); }
            head++;
            reaped++;
        }
        atomic_store_explicit((_Atomic unsigned *) cq_head, head, memory_order_release);
    }
}

static double now_s(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + t.tv_nsec / 1e9;
}

static int cmp(const void *a, const void *b) {
    double x = *(const double *) a, y = *(const double *) b;
    return x < y ? -1 : x > y;
}

int main(int argc, char **argv) {
    unsigned n = argc > 1 ? (unsigned) atoi(argv[1]) : 32;
    double secs = argc > 2 ? atof(argv[2]) : 1.0;
    int rounds = argc > 3 ? atoi(argv[3]) : 5;
    if (n < 1 || n > 64 || rounds < 1 || rounds > 100) { fprintf(stderr, "usage: iouring_nop BATCH(1..64) [SECONDS] [ROUNDS]\n"); return 2; }
    setup(64);
    double res[100];
    for (int w = 0; w < 100000 / n; w++) batch(n); /* warm-up */
    for (int r = 0; r < rounds; r++) {
        uint64_t ops = 0;
        double t0 = now_s(), t1;
        do {
            for (int i = 0; i < 1000; i++) batch(n);
            ops += 1000ull * n;
            t1 = now_s();
        } while (t1 - t0 < secs);
        res[r] = (t1 - t0) * 1e9 / ops;
        printf("batch %u round %d: %.1f ns/NOP\n", n, r, res[r]);
    }
    qsort(res, rounds, sizeof res[0], cmp);
    printf("batch %u median: %.1f ns/NOP\n", n, res[rounds / 2]);
    return 0;
}
