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
#include "limit_common.h"

#define SEGMENT_BYTES (1024 * 1024) /* CheckpointLogOptions.SegmentBytes' default */

const char *limit_program = "append_fdatasync";

struct append {
    int fd;
    char path[4096];
    const char *record;
    size_t bytes;
    off_t tail;
};

static void append_once(void *state)
{
    struct append *a = state;
    if (a->tail + (off_t)a->bytes > SEGMENT_BYTES)
        a->tail = 0;
    write_all(a->fd, a->record, a->bytes, a->tail, a->path);
    if (fdatasync(a->fd) != 0) die("fdatasync", a->path);
    a->tail += (off_t)a->bytes;
}

int main(int argc, char **argv)
{
    struct limit_args args = parse_limit_args(argc, argv, SEGMENT_BYTES);
    struct append a = { .bytes = args.bytes };
    snprintf(a.path, sizeof a.path, "%s/append_limit.seg", args.dir);
    a.fd = open(a.path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (a.fd < 0) die("open", a.path);
    char *zeros = calloc(1, SEGMENT_BYTES);
    if (!zeros) die("calloc", "");
    write_all(a.fd, zeros, SEGMENT_BYTES, 0, a.path); /* the preallocation: written zeros, not unwritten extents */
    if (fsync(a.fd) != 0) die("fsync", a.path);
    free(zeros);
    char *record = make_record(args.bytes);
    a.record = record;

    run_limit(&args, "append_limit", append_once, &a);

    close(a.fd);
    unlink(a.path);
    free(record);
    return 0;
}
