using System.Globalization;
using Cdc.Checkpoint;
using Cdc.Checkpoint.Torture;

// The torture and fault harness. Child modes print one fact per line on stdout (flushed at once, so a parent that
// SIGKILLs the child still reads every line written before the kill); campaign modes run those children and report.
// docs/RELIABILITY.md describes every mode and the commands behind the published figures.
const string Usage = """
    usage: dotnet Cdc.Checkpoint.Torture.dll MODE ARGS

    child modes (started by the tests and the campaigns):
      writer DIR [MAX]        take the lease, print "lease E" and "start N" (the stored count), then save ever-growing
                              PostgreSQL offsets with counts N+1, N+2, ... printing "attempt K" before and "ack K"
                              after each save; exits when stdin closes or after MAX saves
      save-once DIR N         save the offset of count N once: "ok N" (exit 0) or "error CODE" (exit 1)
      show DIR                take the lease and load: "lease E", then "record COUNT LSN vVERSION" or "none"
      owner DIR               take the lease, then per stdin line "save N" -> "ok N", "load" -> "record N"/"none"; "error CODE" on refusal
      rewind-once DIR N       one audited rewind to N: "ok N" or "error CODE"
      log-writer DIR [MAX], log-save-once DIR N, log-show DIR
                              the same three on a CheckpointLog (the append-only log) instead of a FileCheckpoint
      log-saves DIR FROM TO   one CheckpointLog saves FROM..TO: "ok N" or "error CODE N" each, going on after errors
      manifest-writer DIR [MAX] [--no-cleanup]
                              clean up a manifest store, restore a coordinator ("cleaned D T" or "cleaned skipped",
                              "restored ID", "start SOURCE N" per source, "ready"), then commit 4 sources concurrently:
                              "attempt SOURCE K", "ack SOURCE K ID"; exits when stdin closes or after MAX commits per source
      manifest-show DIR       the same start-up as manifest-writer, no commit
      manifest-race DIR LAST [--no-lease]
                              after a stdin line, save checkpoints 1..LAST with own sidecars ("won ID SHA" / "lost ID CODE")
      lease-race DIR          print "ready", then obey stdin lines: "try" -> "owner EPOCH" | "refused CODE";
                              "release" -> "released"; "exit" or end of stdin -> exit
      perms DIR               create a file checkpoint, audit log, cursor and manifest store under DIR
      bench-saves DIR N       time N FileCheckpoint saves: "saves N record_bytes B median_us M p90_us P mean_us A"
      bench-paired DIR N LIMIT_PROGRAM [control]
                              time N saves and N runs of the C limit (bench/limit/durable_replace.c) in interleaved
                              blocks of 10 on the same disk: a "limit ..." line and a "saves ..." line; with
                              "control", a second copy of the limit takes the place of the saves ("control ..." line)
      bench-log-paired DIR N LIMIT_PROGRAM APPEND_LIMIT_PROGRAM
                              time N CheckpointLog saves, N runs of the durable-replace limit and N of the append
                              limit (bench/limit/append_fdatasync.c) in interleaved blocks of 10: lines "log_limit ...",
                              "append_limit ..." and "log_saves ..." (LogBench.cs)
      bench-cost DIR file|log N
                              N saves of a FileCheckpoint or CheckpointLog after a long warm-up: bytes allocated and
                              CPU µs per save, median µs (CostBench.cs; run on tmpfs, under strace -c -f for syscalls)
      bench-group-commit DIR N SOURCES  group commit vs one manifest save per offset (BenchModes.cs)
      bench-pg-store N [durable] [prepared]
                                        PostgresCheckpointStore.SaveAsync vs a raw UPSERT (BenchModes.cs)
      bench-mysql-store N               MySqlCheckpointStore.SaveAsync vs a raw upsert through MySqlConnector
                                        (BenchModes.MySql.cs)

    campaigns:
      crash DIR [KILLS] [SEED]          SIGKILL a writer KILLS times (default 1000) and check every invariant
      log-crash DIR [KILLS] [SEED]      the same for a log-writer (CheckpointLog)
      manifest-crash DIR [KILLS] [SEED] the same for a manifest-writer (manifest store and coordinator)
      lease-races DIR [ROUNDS] [SEED]   race two lease-race children ROUNDS times (default 1000), killing the
                                        owner every 10th round

    environment (read by this harness, never by the library):
      CDC_TORTURE_TEMP_NAME=NAME          every durable write uses temp file NAME (strace -P targets it)
      CDC_TORTURE_PAUSE_BEFORE_RENAME=1   before each rename print "temp PATH" and wait for a stdin line
    """;

if (args.Length < 2)
{
    await Console.Error.WriteLineAsync(Usage);
    return 2;
}

HarnessHooks.Install();
var dir = args[1];
try
{
    return args[0] switch
    {
        "writer" => await ChildModes.WriterAsync(dir, args.Length > 2 ? ulong.Parse(args[2], CultureInfo.InvariantCulture) : ulong.MaxValue),
        "save-once" when args.Length == 3 => await ChildModes.SaveOnceAsync(dir, ulong.Parse(args[2], CultureInfo.InvariantCulture)),
        "show" => await ChildModes.ShowAsync(dir),
        "log-writer" => await ChildModes.WriterAsync(dir, args.Length > 2 ? ulong.Parse(args[2], CultureInfo.InvariantCulture) : ulong.MaxValue, log: true),
        "log-save-once" when args.Length == 3 => await ChildModes.SaveOnceAsync(dir, ulong.Parse(args[2], CultureInfo.InvariantCulture), log: true),
        "log-show" => await ChildModes.ShowAsync(dir, log: true),
        "log-saves" when args.Length == 4 => await LogChildModes.SavesAsync(dir, ulong.Parse(args[2], CultureInfo.InvariantCulture), ulong.Parse(args[3], CultureInfo.InvariantCulture)),
        "log-crash" => await Campaigns.CrashAsync(dir, args, log: true),
        "bench-log-paired" when args.Length == 5 => await LogBench.PairedAsync(dir, int.Parse(args[2], CultureInfo.InvariantCulture), args[3], args[4]),
        "owner" => await ChildModes.OwnerAsync(dir),
        "rewind-once" when args.Length == 3 => await ChildModes.RewindOnceAsync(dir, ulong.Parse(args[2], CultureInfo.InvariantCulture)),
        "manifest-writer" => await ManifestChildModes.WriterAsync(dir, args),
        "manifest-show" => await ManifestChildModes.ShowAsync(dir),
        "manifest-race" when args.Length >= 3 => await ManifestChildModes.RaceAsync(dir, args),
        "lease-race" => await ChildModes.LeaseRaceAsync(dir),
        "perms" => await ChildModes.PermsAsync(dir),
        "bench-saves" when args.Length == 3 => await ChildModes.BenchSavesAsync(dir, int.Parse(args[2], CultureInfo.InvariantCulture)),
        "bench-paired" when args.Length is 4 or 5 => await ChildModes.BenchPairedAsync(dir, int.Parse(args[2], CultureInfo.InvariantCulture), args[3], control: args.Length == 5 && args[4] == "control"),
        "bench-cost" when args.Length == 4 => await CostBench.RunAsync(dir, args[2], int.Parse(args[3], CultureInfo.InvariantCulture)),
        "bench-group-commit" when args.Length == 4 => await BenchModes.GroupCommitAsync(dir, int.Parse(args[2], CultureInfo.InvariantCulture), int.Parse(args[3], CultureInfo.InvariantCulture)),
        "bench-pg-store" => await BenchModes.PostgresStoreAsync(int.Parse(args[1], CultureInfo.InvariantCulture), durable: args.Contains("durable"), prepared: args.Contains("prepared")),
        "bench-mysql-store" when args.Length == 2 => await BenchModes.MySqlStoreAsync(int.Parse(args[1], CultureInfo.InvariantCulture)),
        "crash" => await Campaigns.CrashAsync(dir, args),
        "manifest-crash" => await ManifestCampaigns.CrashAsync(dir, args),
        "lease-races" => await Campaigns.LeaseRacesAsync(dir, args),
        _ => Fail(),
    };
}
catch (CheckpointException ex)
{
    ChildModes.Out($"error {ex.ErrorCode}");
    await Console.Error.WriteLineAsync(ex.ToString());
    return 1;
}

static int Fail()
{
    Console.Error.WriteLine(Usage);
    return 2;
}
