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
#include "limit_common.h"

const char *limit_program = "durable_replace";

struct replace {
    const char *dir;
    char temp[4096], target[4096];
    const char *record;
    size_t bytes;
};

static void replace_once(void *state)
{
    struct replace *r = state;
    int fd = open(r->temp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0) die("open", r->temp);
    write_all(fd, r->record, r->bytes, -1, r->temp);
    if (fsync(fd) != 0) die("fsync", r->temp);
    if (close(fd) != 0) die("close", r->temp);
    if (rename(r->temp, r->target) != 0) die("rename", r->temp);
    int dfd = open(r->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd < 0) die("open", r->dir);
    if (fsync(dfd) != 0) die("fsync", r->dir);
    close(dfd);
}

int main(int argc, char **argv)
{
    struct limit_args args = parse_limit_args(argc, argv, (size_t)1 << 30);
    struct replace r = { .dir = args.dir, .bytes = args.bytes };
    snprintf(r.temp, sizeof r.temp, "%s/limit.json.tmp", args.dir);
    snprintf(r.target, sizeof r.target, "%s/limit.json", args.dir);
    char *record = make_record(args.bytes);
    r.record = record;

    run_limit(&args, "limit", replace_once, &r);

    unlink(r.target);
    free(record);
    return 0;
}
