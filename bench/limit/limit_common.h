/*
 * What the limit programs share (durable_replace.c, append_fdatasync.c): error exit, a monotonic clock, a write loop
 * that survives EINTR and short writes, argument parsing, and the two ways of running an operation: N timed
 * iterations after a warm-up (one summary line) or blocks served over stdin (one line of durations per block, so a
 * benchmark can interleave them with its own operations). Header-only: each program is still one `cc` command.
 */
#ifndef CDC_LIMIT_COMMON_H
#define CDC_LIMIT_COMMON_H

#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* The program's name in error messages; each program defines it. */
extern const char *limit_program;

static void die(const char *what, const char *path)
{
    fprintf(stderr, "%s: %s %s: %s\n", limit_program, what, path, strerror(errno));
    exit(1);
}

static double now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e6 + ts.tv_nsec / 1e3;
}

static int compare_doubles(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* Writes all of data: with write(2) when offset < 0 (at the file position), else with pwrite(2) at offset. */
static void write_all(int fd, const char *data, size_t bytes, off_t offset, const char *path)
{
    size_t done = 0;
    while (done < bytes) {
        ssize_t n = offset < 0 ? write(fd, data + done, bytes - done)
                               : pwrite(fd, data + done, bytes - done, offset + (off_t)done);
        if (n < 0) { if (errno == EINTR) continue; die(offset < 0 ? "write" : "pwrite", path); }
        done += (size_t)n;
    }
}

/* The parsed command line: DIR ITERATIONS RECORD_BYTES [--stdin]. */
struct limit_args {
    const char *dir;
    int iterations;
    size_t bytes;
    int serve;
};

/* Parses the command line; exits with status 2 and a usage line unless 1 <= RECORD_BYTES <= max_bytes and
 * ITERATIONS >= 1 (or --stdin). */
static struct limit_args parse_limit_args(int argc, char **argv, size_t max_bytes)
{
    if (argc != 4 && argc != 5) {
        fprintf(stderr, "usage: %s DIR ITERATIONS RECORD_BYTES [--stdin]\n", limit_program);
        exit(2);
    }

    struct limit_args args = { argv[1], atoi(argv[2]), (size_t)atol(argv[3]), argc == 5 && strcmp(argv[4], "--stdin") == 0 };
    if ((!args.serve && args.iterations < 1) || args.bytes < 1 || args.bytes > max_bytes) {
        fprintf(stderr, "%s: ITERATIONS must be positive, RECORD_BYTES from 1 to %zu\n", limit_program, max_bytes);
        exit(2);
    }

    return args;
}

/* A record of `bytes` 'x' characters ending in a newline. */
static char *make_record(size_t bytes)
{
    char *record = malloc(bytes);
    if (!record) die("malloc", "");
    memset(record, 'x', bytes);
    record[bytes - 1] = '\n';
    return record;
}

/*
 * Runs `once(state)` as the arguments say. Serving: for each stdin line "N", N operations, their durations in
 * microseconds printed on one line. Otherwise max(20, N/10) warm-up operations, then N timed ones, and one line
 * "LABEL N record_bytes B median_us M p90_us P mean_us A".
 */
static void run_limit(const struct limit_args *args, const char *label, void (*once)(void *state), void *state)
{
    if (args->serve) {
        char line[64];
        while (fgets(line, sizeof line, stdin)) {
            int n = atoi(line);
            for (int i = 0; i < n; i++) {
                double started = now_us();
                once(state);
                printf(i == 0 ? "%.1f" : " %.1f", now_us() - started);
            }
            printf("\n");
            fflush(stdout);
        }
        return;
    }

    int iterations = args->iterations;
    double *us = malloc(sizeof(double) * (size_t)iterations);
    if (!us) die("malloc", "");
    int warmup = iterations / 10 > 20 ? iterations / 10 : 20;
    for (int i = 0; i < warmup; i++)
        once(state);

    double total = 0;
    for (int i = 0; i < iterations; i++) {
        double started = now_us();
        once(state);
        us[i] = now_us() - started;
        total += us[i];
    }

    qsort(us, (size_t)iterations, sizeof(double), compare_doubles);
    printf("%s %d record_bytes %zu median_us %.1f p90_us %.1f mean_us %.1f\n",
           label, iterations, args->bytes, us[iterations / 2], us[(int)(iterations * 0.9)], total / iterations);
    free(us);
}

#endif
