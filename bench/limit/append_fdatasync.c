/*
 * The physical limit of an append-only checkpoint log on this disk: what a CheckpointLog save does, with nothing else
 * (no serialisation, no guards, no runtime): one pwrite of a frame at the tail of a segment that was zero-filled and
 * fsynced beforehand (so the file's size never changes), then one fdatasync. When the tail reaches the end of the
 * segment it starts again at byte 0 (the log itself would compact; this loop only measures the append).
 *
 * usage: append_fdatasync DIR ITERATIONS RECORD_BYTES
 *        prints: append_limit ITERATIONS record_bytes B median_us M p90_us P mean_us A
 *        append_fdatasync DIR 0 RECORD_BYTES --stdin
 *        serves blocks: for each stdin line "N" it does N appends and prints their durations in microseconds on one
 *        line, so the log benchmark can interleave blocks of these with blocks of log saves and durable replaces.
 *
 * Built and run by eng/bench.sh next to the CheckpointLog saves, on the same disk, in the same run.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define SEGMENT_BYTES (1024 * 1024) /* CheckpointLogOptions.SegmentBytes' default */

static void die(const char *what, const char *path)
{
    fprintf(stderr, "append_fdatasync: %s %s: %s\n", what, path, strerror(errno));
    exit(1);
}

static double now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e6 + ts.tv_nsec / 1e3;
}

static int compare(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static void write_all(int fd, const char *data, size_t bytes, off_t offset, const char *path)
{
    size_t done = 0;
    while (done < bytes) {
        ssize_t n = pwrite(fd, data + done, bytes - done, offset + (off_t)done);
        if (n < 0) { if (errno == EINTR) continue; die("pwrite", path); }
        done += (size_t)n;
    }
}

static off_t tail;

static void append_once(int fd, const char *path, const char *record, size_t bytes)
{
    if (tail + (off_t)bytes > SEGMENT_BYTES)
        tail = 0;
    write_all(fd, record, bytes, tail, path);
    if (fdatasync(fd) != 0) die("fdatasync", path);
    tail += (off_t)bytes;
}

int main(int argc, char **argv)
{
    if (argc != 4 && argc != 5) {
        fprintf(stderr, "usage: append_fdatasync DIR ITERATIONS RECORD_BYTES [--stdin]\n");
        return 2;
    }

    const char *dir = argv[1];
    int iterations = atoi(argv[2]);
    size_t bytes = (size_t)atol(argv[3]);
    int serve = argc == 5 && strcmp(argv[4], "--stdin") == 0;
    if ((!serve && iterations < 1) || bytes < 1 || bytes > SEGMENT_BYTES) {
        fprintf(stderr, "append_fdatasync: ITERATIONS must be positive, RECORD_BYTES from 1 to %d\n", SEGMENT_BYTES);
        return 2;
    }

    char path[4096];
    snprintf(path, sizeof path, "%s/append_limit.seg", dir);
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0) die("open", path);
    char *zeros = calloc(1, SEGMENT_BYTES);
    if (!zeros) die("calloc", "");
    write_all(fd, zeros, SEGMENT_BYTES, 0, path); /* the preallocation: written zeros, not unwritten extents */
    if (fsync(fd) != 0) die("fsync", path);
    free(zeros);

    char *record = malloc(bytes);
    if (!record) die("malloc", "");
    memset(record, 'x', bytes);

    if (serve) {
        char line[64];
        while (fgets(line, sizeof line, stdin)) {
            int n = atoi(line);
            for (int i = 0; i < n; i++) {
                double started = now_us();
                append_once(fd, path, record, bytes);
                printf(i == 0 ? "%.1f" : " %.1f", now_us() - started);
            }
            printf("\n");
            fflush(stdout);
        }
    } else {
        double *us = malloc(sizeof(double) * (size_t)iterations);
        if (!us) die("malloc", "");
        int warmup = iterations / 10 > 20 ? iterations / 10 : 20;
        for (int i = 0; i < warmup; i++)
            append_once(fd, path, record, bytes);
        double total = 0;
        for (int i = 0; i < iterations; i++) {
            double started = now_us();
            append_once(fd, path, record, bytes);
            us[i] = now_us() - started;
            total += us[i];
        }
        qsort(us, (size_t)iterations, sizeof(double), compare);
        printf("append_limit %d record_bytes %zu median_us %.1f p90_us %.1f mean_us %.1f\n",
               iterations, bytes, us[iterations / 2], us[(int)(iterations * 0.9)], total / iterations);
        free(us);
    }

    close(fd);
    unlink(path);
    free(record);
    return 0;
}
