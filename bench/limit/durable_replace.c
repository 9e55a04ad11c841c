/*
 * The physical limit of a durable file replace on this disk: the same steps a FileCheckpoint save takes, with nothing
 * else (no serialisation, no guards, no runtime): create a temp file exclusively with mode 0600, write the record,
 * fsync it, close it, rename it over the target, open the directory, fsync it, close it.
 *
 * usage: durable_replace DIR ITERATIONS RECORD_BYTES
 *        prints: limit ITERATIONS record_bytes B median_us M p90_us P mean_us A
 *        durable_replace DIR 0 RECORD_BYTES --stdin
 *        serves blocks: for each stdin line "N" it does N replaces and prints their durations in microseconds on one
 *        line; this lets the FileCheckpoint benchmark interleave blocks of limit operations with blocks of saves.
 *
 * Built and run by eng/bench.sh next to the FileCheckpoint saves, on the same disk, in the same run.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static void die(const char *what, const char *path)
{
    fprintf(stderr, "durable_replace: %s %s: %s\n", what, path, strerror(errno));
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

static void replace_once(const char *dir, const char *temp, const char *target, const char *record, size_t bytes)
{
    int fd = open(temp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0) die("open", temp);
    size_t done = 0;
    while (done < bytes) {
        ssize_t n = write(fd, record + done, bytes - done);
        if (n < 0) { if (errno == EINTR) continue; die("write", temp); }
        done += (size_t)n;
    }
    if (fsync(fd) != 0) die("fsync", temp);
    if (close(fd) != 0) die("close", temp);
    if (rename(temp, target) != 0) die("rename", temp);
    int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd < 0) die("open", dir);
    if (fsync(dfd) != 0) die("fsync", dir);
    close(dfd);
}

int main(int argc, char **argv)
{
    if (argc != 4 && argc != 5) {
        fprintf(stderr, "usage: durable_replace DIR ITERATIONS RECORD_BYTES [--stdin]\n");
        return 2;
    }

    const char *dir = argv[1];
    int iterations = atoi(argv[2]);
    size_t bytes = (size_t)atol(argv[3]);
    int serve = argc == 5 && strcmp(argv[4], "--stdin") == 0;
    if ((!serve && iterations < 1) || bytes < 1) {
        fprintf(stderr, "durable_replace: ITERATIONS and RECORD_BYTES must be positive\n");
        return 2;
    }

    char temp[4096], target[4096];
    snprintf(temp, sizeof temp, "%s/limit.json.tmp", dir);
    snprintf(target, sizeof target, "%s/limit.json", dir);
    char *record = malloc(bytes);
    if (!record) die("malloc", "");
    memset(record, 'x', bytes);
    record[bytes - 1] = '\n';

    if (serve) {
        char line[64];
        while (fgets(line, sizeof line, stdin)) {
            int n = atoi(line);
            for (int i = 0; i < n; i++) {
                double started = now_us();
                replace_once(dir, temp, target, record, bytes);
                printf(i == 0 ? "%.1f" : " %.1f", now_us() - started);
            }
            printf("\n");
            fflush(stdout);
        }
        unlink(target);
        free(record);
        return 0;
    }

    double *us = malloc(sizeof(double) * (size_t)iterations);
    if (!us) die("malloc", "");

    int warmup = iterations / 10 > 20 ? iterations / 10 : 20;
    for (int i = 0; i < warmup; i++)
        replace_once(dir, temp, target, record, bytes);

    double total = 0;
    for (int i = 0; i < iterations; i++) {
        double started = now_us();
        replace_once(dir, temp, target, record, bytes);
        us[i] = now_us() - started;
        total += us[i];
    }

    qsort(us, (size_t)iterations, sizeof(double), compare);
    printf("limit %d record_bytes %zu median_us %.1f p90_us %.1f mean_us %.1f\n",
           iterations, bytes, us[iterations / 2], us[(int)(iterations * 0.9)], total / iterations);
    unlink(target);
    free(record);
    free(us);
    return 0;
}
