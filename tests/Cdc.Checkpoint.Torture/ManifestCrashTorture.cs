using System.Diagnostics;
using System.Globalization;
using System.Text;
using Cdc.Checkpoint.Files;
using Cdc.Checkpoint.Manifests;

namespace Cdc.Checkpoint.Torture;

/// <summary>What a manifest crash-torture campaign saw.</summary>
public sealed class ManifestCrashTortureReport
{
    /// <summary>SIGKILLs delivered.</summary>
    public int Kills { get; set; }

    /// <summary>Writers started with <c>--no-cleanup</c>: they leave the leftovers of earlier kills to the store's pruning.</summary>
    public int WritersWithoutCleanup { get; set; }

    /// <summary>Kills before the writer's first line: runtime start and, when asked, orphan cleanup.</summary>
    public int KillsBeforeCleanup { get; set; }

    /// <summary>Kills after the <c>cleaned</c> line but before <c>ready</c>: recovery and coordinator start.</summary>
    public int KillsDuringRecovery { get; set; }

    /// <summary>Kills after <c>ready</c> while at least one source had printed an <c>attempt</c> without its <c>ack</c>: inside a commit.</summary>
    public int KillsInsideCommit { get; set; }

    /// <summary>Kills after which some source's recovered count was past its last <c>ack</c>: the commit in flight had reached the disk.</summary>
    public int InFlightCommitsFound { get; set; }

    /// <summary>Kills after which the recovered checkpoint was newer than the latest pointer (killed between manifest and pointer).</summary>
    public int PointerBehindNewest { get; set; }

    /// <summary>Kills that left a temp file of an interrupted write.</summary>
    public int KillsLeavingTemp { get; set; }

    /// <summary>Kills that left a new checkpoint directory without a manifest (an interrupted save or prune).</summary>
    public int KillsLeavingOrphan { get; set; }

    /// <summary>The most temp files seen at once after a kill.</summary>
    public int MaxTempFiles { get; set; }

    /// <summary>The most orphaned checkpoint directories seen at once after a kill.</summary>
    public int MaxOrphanDirectories { get; set; }

    /// <summary>The most checkpoints with a manifest seen at once after a kill (retention is <see cref="ManifestTorture.RetainCount"/>).</summary>
    public int MaxManifests { get; set; }

    /// <summary>Orphaned directories the next writers removed at start (<c>CleanupOrphansAsync</c>).</summary>
    public int OrphansRemoved { get; set; }

    /// <summary>Temp files the next writers removed at start.</summary>
    public int TempsRemoved { get; set; }

    /// <summary>Leftovers of earlier kills (orphaned directories and temp files) that the pruning of writers without cleanup removed.</summary>
    public int LeftoversRemovedByPruning { get; set; }

    /// <summary>Acknowledged commits over all writers and sources.</summary>
    public long Acks { get; set; }

    /// <summary>Distinct manifests named by the acknowledgements of the coordinator's own sources (durable writes that served them).</summary>
    public long AckedWrites { get; set; }

    /// <summary>Acknowledgements of the coordinator's own sources (all sources but the adapter's).</summary>
    public long CoordinatorAcks { get; set; }

    /// <summary>The most acknowledgements one manifest served.</summary>
    public int MaxAcksPerWrite { get; set; }

    /// <summary>The recovered checkpoint id at the end.</summary>
    public ulong FinalCheckpointId { get; set; }

    /// <summary>Each source's recovered count at the end.</summary>
    public SortedDictionary<string, ulong> FinalCounts { get; } = new(StringComparer.Ordinal);

    /// <summary>Every broken invariant, with the kill it was seen after; empty when the campaign passed.</summary>
    public List<string> Violations { get; } = [];

    /// <inheritdoc />
    public override string ToString()
    {
        var counts = string.Join(" ", FinalCounts.Select(c => $"{c.Key}={c.Value}"));
        var perWrite = AckedWrites == 0 ? 0 : (double)CoordinatorAcks / AckedWrites;
        return string.Create(
            CultureInfo.InvariantCulture,
            $"kills {Kills} (before cleanup {KillsBeforeCleanup}, during recovery {KillsDuringRecovery}, inside a commit {KillsInsideCommit}), writers without cleanup {WritersWithoutCleanup}, in-flight commits found on disk {InFlightCommitsFound}, pointer behind the newest manifest {PointerBehindNewest}, kills leaving a temp file {KillsLeavingTemp} (max at once {MaxTempFiles}), kills leaving an orphan directory {KillsLeavingOrphan} (max at once {MaxOrphanDirectories}), removed at start: {OrphansRemoved} orphans and {TempsRemoved} temps, removed by pruning alone {LeftoversRemovedByPruning}, max manifests {MaxManifests}, acks {Acks}, acks per group write {perWrite:F2} (max {MaxAcksPerWrite}), final checkpoint {FinalCheckpointId} ({counts}), violations {Violations.Count}");
    }
}

/// <summary>The manifest campaign mode: <c>manifest-crash DIR [KILLS] [SEED]</c>.</summary>
public static class ManifestCampaigns
{
    /// <summary><c>manifest-crash DIR [KILLS] [SEED]</c>: manifest store crash torture, 1,000 kills by default.</summary>
    /// <param name="dir">The store's root directory.</param>
    /// <param name="args">The command line.</param>
    /// <returns>0 when every invariant held, 1 otherwise.</returns>
    public static async Task<int> CrashAsync(string dir, string[] args)
    {
        var kills = args.Length > 2 ? int.Parse(args[2], CultureInfo.InvariantCulture) : 1000;
        var seed = args.Length > 3 ? int.Parse(args[3], CultureInfo.InvariantCulture) : Environment.TickCount & int.MaxValue;
        Console.WriteLine($"manifest crash torture: {kills} kills on {Path.GetFullPath(dir)}, seed {seed}");
        var started = Stopwatch.GetTimestamp();
        var report = await ManifestCrashTorture.RunAsync(dir, kills, seed, Console.Out);
        foreach (var violation in report.Violations)
        {
            Console.WriteLine($"VIOLATION: {violation}");
        }

        Console.WriteLine($"manifest crash torture: {report}");
        Console.WriteLine($"manifest crash torture: {Stopwatch.GetElapsedTime(started).TotalMinutes:F1} minutes");
        Console.WriteLine(report.Violations.Count == 0 ? "manifest crash torture: PASSED" : "manifest crash torture: FAILED");
        return report.Violations.Count == 0 ? 0 : 1;
    }
}

/// <summary>
/// Crash torture of the manifest store: starts the harness <c>manifest-writer</c> (four sources committing
/// concurrently through one <see cref="CheckpointCoordinator"/> over a <see cref="FileManifestStore"/>) as a real
/// process, SIGKILLs it at a random moment, checks the directory, and repeats. After every kill:
/// <list type="bullet">
/// <item>recovery (<see cref="FileManifestStore.RecoverLatestValidAsync"/>) finds the newest manifest valid, skips
/// nothing, and never reports a fresh start once anything was acknowledged;</item>
/// <item>each source's recovered count is never behind its last <c>ack</c>, never ahead of its last <c>attempt</c>
/// and never moves back; every offset and operator state is exactly the one of its source and count (states may be
/// one count ahead: they are set before the offset);</item>
/// <item>every retained manifest validates, is coherent, holds per-source counts that grow with the id, and holds at
/// least what each acknowledgement that named it acknowledged;</item>
/// <item>the latest pointer exists once anything was acknowledged, names a manifest, never moves back, and at most
/// one manifest (the one whose pointer move was killed) is newer;</item>
/// <item>pruning works: once a writer has completed a commit, at most <see cref="ManifestTorture.RetainCount"/> + 1
/// manifests exist (the extra one: a save killed before its prune); before that, at most one more than it found;</item>
/// <item>a kill leaves at most one new temp file and at most one new orphan directory; nothing else appears;</item>
/// <item>half the writers start with <see cref="FileManifestStore.CleanupOrphansAsync"/>: such a writer removes every
/// temp file and every orphan older than the latest checkpoint (exactly what it promises: newer ones may be a save in
/// progress and stay until a later start); the other half rely on pruning alone: once such a writer has completed a
/// commit, every earlier temp file of the pointer and every earlier orphan older than the checkpoints that commit's
/// prune kept is gone;</item>
/// <item>every writer restores exactly the recovered state.</item>
/// </list>
/// </summary>
public static class ManifestCrashTorture
{
    private static readonly TimeSpan LineTimeout = TimeSpan.FromSeconds(60);

    /// <summary>Runs <paramref name="kills"/> kill cycles on <paramref name="directory"/>.</summary>
    /// <param name="directory">The store's root directory (created when missing).</param>
    /// <param name="kills">How many kills.</param>
    /// <param name="seed">Seed of the kill moments.</param>
    /// <param name="log">Progress output, or <see langword="null"/>.</param>
    /// <param name="cancellationToken">Stops between kills.</param>
    /// <returns>The report.</returns>
    public static async Task<ManifestCrashTortureReport> RunAsync(string directory, int kills, int seed, TextWriter? log = null, CancellationToken cancellationToken = default)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(kills);
        directory = Path.GetFullPath(directory);
        if (!Directory.Exists(directory))
        {
            Directory.CreateDirectory(directory, DurableFile.PrivateDirectoryMode);
        }

        var random = new Random(seed);
        var report = new ManifestCrashTortureReport();
        var state = new CampaignState();
        var readyMillis = 600.0;

        for (var kill = 1; kill <= kills; kill++)
        {
            cancellationToken.ThrowIfCancellationRequested();
            var before = StoreSnapshot.Take(directory);
            var cleanup = random.Next(2) == 0;
            report.WritersWithoutCleanup += cleanup ? 0 : 1;
            await using var writer = HarnessChild.Start(cleanup ? ["manifest-writer", directory] : ["manifest-writer", directory, "--no-cleanup"]);
            var started = Stopwatch.GetTimestamp();

            // A fifth of the kills land at a random moment of start-up (runtime start, cleanup, recovery), spread over
            // the time start-up has been taking; the rest after a random number of acknowledgements plus a random few
            // milliseconds, which lands almost all of them inside a commit.
            if (random.Next(5) == 0)
            {
                await Task.Delay(random.Next(0, (int)(readyMillis * 1.25) + 1), cancellationToken);
            }
            else
            {
                var ready = await writer.ReadUntilAsync("ready", LineTimeout);
                if (ready is not null)
                {
                    // A running mean, so the early kills follow the machine's load.
                    readyMillis = (0.8 * readyMillis) + (0.2 * Stopwatch.GetElapsedTime(started).TotalMilliseconds);
                    await writer.RunOnForAcksAsync(random.Next(0, 25), random, LineTimeout);
                }
            }

            writer.Kill();
            await writer.WaitForExitAsync(cancellationToken);
            report.Kills++;
            var run = ParseRun(writer, kill, report);
            if (writer.ExitCode != 137 && writer.ExitCode != -1)
            {
                // 137 = 128 + SIGKILL. Anything else means the writer ended by itself before the kill.
                report.Violations.Add($"kill {kill}: the writer exited with {writer.ExitCode} before it was killed (stderr: {writer.StandardError.Trim()})");
            }

            await CheckAfterKillAsync(directory, kill, before, run, state, report);
            if (kill % 50 == 0 || kill == kills)
            {
                log?.WriteLine($"manifest crash torture: {kill}/{kills} kills, checkpoint {state.RecoveredId}, {report.Violations.Count} violations");
            }
        }

        await CheckFinalOwnerAsync(directory, state, report);
        report.FinalCheckpointId = state.RecoveredId;
        foreach (var source in ManifestTorture.Sources)
        {
            report.FinalCounts[source] = state.Recovered.GetValueOrDefault(source);
        }

        return report;
    }

    private static WriterRun ParseRun(HarnessChild writer, int kill, ManifestCrashTortureReport report)
    {
        var run = new WriterRun();
        foreach (var line in writer.Lines)
        {
            var parts = line.Split(' ');
            try
            {
                switch (parts)
                {
                    case ["cleaned", "skipped"]:
                        run.CleanupSkipped = true;
                        break;
                    case ["cleaned", var dirs, var temps]:
                        run.Cleaned = (Parse(dirs), Parse(temps));
                        break;
                    case ["restored", var id]:
                        run.Restored = Parse(id);
                        break;
                    case ["start", var source, var count] when IsSource(source):
                        run.Starts[source] = Parse(count);
                        break;
                    case ["ready"]:
                        run.Ready = true;
                        break;
                    case ["attempt", var source, var count] when IsSource(source):
                        var attempt = Parse(count);
                        var expected = run.Attempts.TryGetValue(source, out var previous) ? previous + 1 : run.Starts.GetValueOrDefault(source) + 1;
                        if (attempt != expected)
                        {
                            report.Violations.Add($"kill {kill}: {source} attempted {attempt}, expected {expected}");
                        }

                        run.Attempts[source] = attempt;
                        break;
                    case ["ack", var source, var count, var id] when IsSource(source):
                        var ack = Parse(count);
                        if (ack != run.Attempts.GetValueOrDefault(source))
                        {
                            report.Violations.Add($"kill {kill}: {source} acknowledged {ack} but its last attempt was {run.Attempts.GetValueOrDefault(source)}");
                        }

                        run.Acks[source] = ack;
                        run.AckedIds.Add((source, ack, Parse(id)));
                        report.Acks++;
                        break;
                    default:
                        report.Violations.Add($"kill {kill}: the writer printed '{line}' (stderr: {writer.StandardError.Trim()})");
                        break;
                }
            }
            catch (FormatException)
            {
                report.Violations.Add($"kill {kill}: the writer printed '{line}', which does not parse");
            }
        }

        return run;
    }

    private static async Task CheckAfterKillAsync(string directory, int kill, StoreSnapshot before, WriterRun run, CampaignState state, ManifestCrashTortureReport report)
    {
        var v = report.Violations;
        string Where() => $"kill {kill}";

        // How far the writer got.
        if (run.Cleaned is null && !run.CleanupSkipped)
        {
            report.KillsBeforeCleanup++;
        }
        else if (!run.Ready)
        {
            report.KillsDuringRecovery++;
        }
        else if (run.Attempts.Any(a => a.Value > run.Acks.GetValueOrDefault(a.Key)))
        {
            report.KillsInsideCommit++;
        }

        // Start-up: cleanup removed exactly the removable leftovers, and the writer restored exactly what we recovered.
        if (run.Cleaned is var (dirs, temps))
        {
            var removableOrphans = before.Orphans.Where(id => id < before.LatestId).ToList();

            // A temp file inside a removed orphan goes with its directory and is not counted as a temp file.
            var removableTemps = before.Temps.Count(t => StoreSnapshot.DirectoryIdOf(t) is not { } id || !removableOrphans.Contains(id));
            report.OrphansRemoved += (int)dirs;
            report.TempsRemoved += (int)temps;
            if (dirs != (ulong)removableOrphans.Count || temps != (ulong)removableTemps)
            {
                v.Add($"{Where()}: cleanup removed {dirs} directories and {temps} temp files; expected {removableOrphans.Count} orphans older than checkpoint {before.LatestId} ({string.Join(", ", removableOrphans)}) and {removableTemps} temp files ({string.Join(", ", before.Temps)})");
            }

            var stale = before.Temps.Where(File.Exists)
                .Concat(removableOrphans.Select(id => FileManifestStore.DirectoryNameOf(id)).Where(name => Directory.Exists(Path.Combine(before.CheckpointsDirectory, name))))
                .ToList();
            if (stale.Count > 0)
            {
                v.Add($"{Where()}: the writer cleaned up, but leftovers of earlier kills remain: {string.Join(", ", stale)}");
            }
        }

        if (run.Restored is { } restored && restored != state.RecoveredId)
        {
            v.Add($"{Where()}: the writer restored checkpoint {restored}, but recovery had found {state.RecoveredId}");
        }

        foreach (var (source, start) in run.Starts)
        {
            if (start != state.Recovered.GetValueOrDefault(source))
            {
                v.Add($"{Where()}: the writer resumed {source} from {start}, but the recovered checkpoint held {state.Recovered.GetValueOrDefault(source)}");
            }
        }

        if (run.Ready && run.Starts.Count != ManifestTorture.Sources.Count)
        {
            v.Add($"{Where()}: the writer became ready after {run.Starts.Count} start lines, not {ManifestTorture.Sources.Count}");
        }

        foreach (var (source, attempt) in run.Attempts)
        {
            state.MaxAttempt[source] = Math.Max(state.MaxAttempt.GetValueOrDefault(source), attempt);
        }

        foreach (var (source, ack) in run.Acks)
        {
            state.MaxAck[source] = Math.Max(state.MaxAck.GetValueOrDefault(source), ack);
        }

        // Group commit: how many acknowledgements each durable write served (the adapter prints the last durable id,
        // not the one that served it, so only the coordinator's own sources count).
        foreach (var group in run.AckedIds.Where(a => a.Source != ManifestTorture.AdapterSource).GroupBy(a => a.Id))
        {
            report.AckedWrites++;
            report.CoordinatorAcks += group.Count();
            report.MaxAcksPerWrite = Math.Max(report.MaxAcksPerWrite, group.Count());
        }

        // The directory: only our files, bounded leftovers, bounded history, a pointer that never moves back.
        var after = StoreSnapshot.Take(directory);
        foreach (var problem in after.Unexpected)
        {
            v.Add($"{Where()}: unexpected entry {problem}");
        }

        report.MaxTempFiles = Math.Max(report.MaxTempFiles, after.Temps.Count);
        report.MaxOrphanDirectories = Math.Max(report.MaxOrphanDirectories, after.Orphans.Count);
        report.MaxManifests = Math.Max(report.MaxManifests, after.Manifests.Count);
        var newTemps = after.Temps.Except(before.Temps).ToList();
        var newOrphans = after.Orphans.Except(before.Orphans).ToList();
        if (newTemps.Count > 0)
        {
            report.KillsLeavingTemp++;
        }

        if (newOrphans.Count > 0)
        {
            report.KillsLeavingOrphan++;
        }

        if (newTemps.Count > 1)
        {
            v.Add($"{Where()}: one kill left {newTemps.Count} temp files: {string.Join(", ", newTemps)}");
        }

        if (run.Acks.Count > 0)
        {
            // A commit completed, so did the prune of its save: it removed every temp file of the pointer, and every
            // orphan older than the checkpoints it kept, which are at least as new as the RetainCount-th newest
            // manifest found before this writer started (or newer than everything, if there was none).
            var keptFloor = before.Manifests.Count switch
            {
                0 => ulong.MaxValue,
                var n when n >= ManifestTorture.RetainCount => before.Manifests[n - ManifestTorture.RetainCount],
                _ => before.Manifests[0],
            };
            var unpruned = before.PointerTemps.Where(File.Exists)
                .Concat(before.Orphans.Where(id => id < keptFloor && after.Orphans.Contains(id)).Select(FileManifestStore.DirectoryNameOf))
                .ToList();
            if (unpruned.Count > 0)
            {
                v.Add($"{Where()}: a commit (and its prune) completed, but these leftovers older than checkpoint {keptFloor} remain: {string.Join(", ", unpruned)}");
            }
        }

        if (run.CleanupSkipped)
        {
            report.LeftoversRemovedByPruning += before.Temps.Count(t => !File.Exists(t)) + before.Orphans.Count(id => !after.Orphans.Contains(id) && !after.Manifests.Contains(id));
        }

        if (newOrphans.Count > 1)
        {
            v.Add($"{Where()}: one kill left {newOrphans.Count} checkpoint directories without a manifest: {string.Join(", ", newOrphans)}");
        }

        // Every completed save prunes to RetainCount, and saves are serialized: after a writer completed a commit, only
        // the save in flight at the kill can add one more. A writer that completed none may have added one to what it found
        // (repeated kills between a manifest and its prune can so grow the history, until the next completed save).
        var manifestLimit = (run.Acks.Count > 0 ? ManifestTorture.RetainCount : Math.Max(ManifestTorture.RetainCount, before.Manifests.Count)) + 1;
        if (after.Manifests.Count > manifestLimit)
        {
            v.Add($"{Where()}: {after.Manifests.Count} checkpoints are retained ({string.Join(", ", after.Manifests)}), more than {manifestLimit} (RetainCount {ManifestTorture.RetainCount}, {before.Manifests.Count} before this writer, acks: {run.Acks.Count > 0})");
        }

        if (after.PointerProblem is not null)
        {
            v.Add($"{Where()}: the latest pointer {after.PointerProblem}");
        }

        var anyAck = state.MaxAck.Values.Any(a => a > 0);
        if (after.Pointer is { } pointer)
        {
            if (pointer < state.Pointer)
            {
                v.Add($"{Where()}: the latest pointer moved back from {state.Pointer} to {pointer}");
            }

            if (!after.Manifests.Contains(pointer))
            {
                v.Add($"{Where()}: the latest pointer names checkpoint {pointer}, which has no manifest (manifests: {string.Join(", ", after.Manifests)})");
            }

            var newer = after.Manifests.Count(id => id > pointer);
            if (newer > 1)
            {
                v.Add($"{Where()}: {newer} manifests are newer than the latest pointer {pointer}");
            }
            else if (newer == 1)
            {
                report.PointerBehindNewest++;
            }

            state.Pointer = Math.Max(state.Pointer, pointer);
        }
        else if (anyAck || state.Pointer > 0)
        {
            v.Add($"{Where()}: no latest pointer, but commits were acknowledged (last pointer {state.Pointer})");
        }

        // Recovery, as the next writer will do it.
        var store = new FileManifestStore(directory, ManifestTorture.StoreOptions());
        ManifestRecovery? recovery;
        try
        {
            recovery = await store.RecoverLatestValidAsync();
        }
        catch (CheckpointException ex)
        {
            v.Add($"{Where()}: recovery failed: {ex.ErrorCode} {ex.Message}");
            return;
        }

        if (recovery is null)
        {
            if (anyAck || after.Manifests.Count > 0)
            {
                v.Add($"{Where()}: recovery reports a fresh start, but {after.Manifests.Count} manifests exist and acks were printed: {anyAck}");
            }

            return;
        }

        var manifest = recovery.Manifest;
        if (recovery.Skipped.Length > 0)
        {
            v.Add($"{Where()}: recovery skipped {string.Join("; ", recovery.Skipped.Select(s => $"{s.CheckpointId}: {s.Reason}"))}");
        }

        if (manifest.CheckpointId != after.Manifests.LastOrDefault())
        {
            v.Add($"{Where()}: recovered checkpoint {manifest.CheckpointId}, but the newest manifest is {after.Manifests.LastOrDefault()}");
        }

        if (manifest.CheckpointId < state.RecoveredId)
        {
            v.Add($"{Where()}: the recovered checkpoint moved back from {state.RecoveredId} to {manifest.CheckpointId}");
        }

        var highest = Math.Max(after.Manifests.Concat(after.Orphans).DefaultIfEmpty().Max(), after.Pointer ?? 0);
        if (recovery.HighestCheckpointId != highest)
        {
            v.Add($"{Where()}: recovery reports {recovery.HighestCheckpointId} as the highest id in use, the directory has {highest}");
        }

        var counts = await CheckManifestAsync(store, manifest, Where(), v);
        var inFlight = false;
        foreach (var source in ManifestTorture.Sources)
        {
            var count = counts.GetValueOrDefault(source);
            var ack = state.MaxAck.GetValueOrDefault(source);
            var attempt = state.MaxAttempt.GetValueOrDefault(source);
            if (count < ack)
            {
                v.Add($"{Where()}: recovered {source} at {count}, behind its last acknowledged commit {ack}");
            }

            if (count > attempt)
            {
                v.Add($"{Where()}: recovered {source} at {count}, ahead of its last attempt {attempt}");
            }

            if (count < state.Recovered.GetValueOrDefault(source))
            {
                v.Add($"{Where()}: recovered {source} moved back from {state.Recovered.GetValueOrDefault(source)} to {count}");
            }

            inFlight |= count > ack;
            state.Recovered[source] = count;
        }

        if (inFlight)
        {
            report.InFlightCommitsFound++;
        }

        state.RecoveredId = manifest.CheckpointId;

        // The retained history: every manifest valid and coherent, counts growing with the id, acknowledgements honoured.
        var history = new Dictionary<ulong, Dictionary<string, ulong>>();
        Dictionary<string, ulong>? older = null;
        foreach (var id in after.Manifests)
        {
            var validation = await store.ValidateAsync(id);
            if (!validation.IsValid)
            {
                v.Add($"{Where()}: retained checkpoint {id} is invalid: {validation.FatalReason}");
                continue;
            }

            var these = id == manifest.CheckpointId ? counts : await CheckManifestAsync(store, validation.Manifest!, Where(), v);
            history[id] = these;
            if (older is not null)
            {
                foreach (var (source, count) in older)
                {
                    if (these.GetValueOrDefault(source) < count)
                    {
                        v.Add($"{Where()}: checkpoint {id} holds {source} at {these.GetValueOrDefault(source)}, behind an older retained checkpoint ({count})");
                    }
                }
            }

            older = these;
        }

        var oldestRetained = after.Manifests.FirstOrDefault();
        foreach (var (source, count, id) in run.AckedIds)
        {
            if (history.TryGetValue(id, out var held))
            {
                if (held.GetValueOrDefault(source) < count)
                {
                    v.Add($"{Where()}: {source} {count} was acknowledged with checkpoint {id}, which holds only {held.GetValueOrDefault(source)}");
                }
            }
            else if (id >= oldestRetained)
            {
                v.Add($"{Where()}: checkpoint {id}, acknowledged for {source} {count}, is gone while older checkpoint {oldestRetained} is retained");
            }
        }
    }

    /// <summary>Checks one manifest's coherence and returns its per-source counts (0 for a source it does not hold).</summary>
    private static async Task<Dictionary<string, ulong>> CheckManifestAsync(FileManifestStore store, CheckpointManifest manifest, string where, List<string> v)
    {
        var id = manifest.CheckpointId;
        var counts = new Dictionary<string, ulong>(StringComparer.Ordinal);
        if (manifest.Epoch != id)
        {
            v.Add($"{where}: checkpoint {id} has epoch {manifest.Epoch}; the coordinator uses the id");
        }

        if (manifest.Watermark is not null || manifest.SinkEpochs.Count > 0 || manifest.SinkCommitStatuses.Count > 0 || manifest.TableOffsets.Count > 0)
        {
            v.Add($"{where}: checkpoint {id} holds a watermark, sinks or tables the writer never reported");
        }

        foreach (var (source, position) in manifest.SourceOffsets)
        {
            if (!IsSource(source))
            {
                v.Add($"{where}: checkpoint {id} holds unknown source '{source}'");
                continue;
            }

            counts[source] = position.CommittedEventCount;
            if (!position.Offset.Equals(ManifestTorture.OffsetFor(source, position.CommittedEventCount)))
            {
                v.Add($"{where}: checkpoint {id} holds {source} at count {position.CommittedEventCount} with offset {position.Offset}, not {ManifestTorture.OffsetFor(source, position.CommittedEventCount)}");
            }
        }

        var operators = ManifestTorture.Sources.ToDictionary(ManifestTorture.OperatorOf, s => s, StringComparer.Ordinal);
        System.Collections.Immutable.ImmutableSortedDictionary<string, ReadOnlyMemory<byte>> states;
        try
        {
            states = await store.LoadOperatorStatesAsync(manifest);
        }
        catch (CheckpointException ex)
        {
            v.Add($"{where}: the operator states of checkpoint {id} cannot be loaded: {ex.Message}");
            return counts;
        }

        foreach (var (name, bytes) in states)
        {
            if (!operators.TryGetValue(name, out var source))
            {
                v.Add($"{where}: checkpoint {id} holds unknown operator '{name}'");
                continue;
            }

            // The state is set before the offset is reported: it is the state of the offset's count or of the next one.
            var count = counts.GetValueOrDefault(source);
            var stateCount = ManifestTorture.CountOfState(source, bytes.Span);
            if (stateCount is null)
            {
                v.Add($"{where}: checkpoint {id} holds a state of {name} that is no state of {source}: {Encoding.ASCII.GetString(bytes.Span[..Math.Min(40, bytes.Length)])}");
            }
            else if (stateCount != count && stateCount != count + 1)
            {
                v.Add($"{where}: checkpoint {id} holds {source} at {count} with the state of count {stateCount}");
            }
        }

        foreach (var (source, count) in counts)
        {
            if (count > 0 && !states.ContainsKey(ManifestTorture.OperatorOf(source)))
            {
                v.Add($"{where}: checkpoint {id} holds {source} at {count} without its operator state");
            }
        }

        return counts;
    }

    private static async Task CheckFinalOwnerAsync(string directory, CampaignState state, ManifestCrashTortureReport report)
    {
        // The next owner after the last kill: it cleans up by itself and restores exactly the recovered state.
        var before = StoreSnapshot.Take(directory);
        var show = await HarnessChild.RunAsync(["manifest-show", directory]);
        var removableOrphans = before.Orphans.Where(id => id < before.LatestId).ToList();
        var removableTemps = before.Temps.Count(t => StoreSnapshot.DirectoryIdOf(t) is not { } id || !removableOrphans.Contains(id));
        var expected = new List<string>
        {
            string.Create(CultureInfo.InvariantCulture, $"cleaned {removableOrphans.Count} {removableTemps}"),
            string.Create(CultureInfo.InvariantCulture, $"restored {state.RecoveredId}"),
        };
        expected.AddRange(ManifestTorture.Sources.Select(s => string.Create(CultureInfo.InvariantCulture, $"start {s} {state.Recovered.GetValueOrDefault(s)}")));
        if (show.ExitCode != 0 || !show.Lines.SequenceEqual(expected))
        {
            report.Violations.Add($"final owner: expected '{string.Join(" | ", expected)}', got exit {show.ExitCode}: {string.Join(" | ", show.Lines)} {show.StandardError.Trim()}");
        }

        var after = StoreSnapshot.Take(directory);
        var left = after.Temps.Select(Path.GetFileName)
            .Concat(after.Orphans.Where(id => id < before.LatestId).Select(FileManifestStore.DirectoryNameOf))
            .ToList();
        if (left.Count > 0)
        {
            report.Violations.Add($"final owner: leftovers remain after its cleanup: {string.Join(", ", left)}");
        }
    }

    private static bool IsSource(string name) => ManifestTorture.Sources.Contains(name);

    private static ulong Parse(string text) => ulong.Parse(text, NumberStyles.None, CultureInfo.InvariantCulture);

    /// <summary>What one writer printed.</summary>
    private sealed class WriterRun
    {
        public (ulong Directories, ulong Temps)? Cleaned { get; set; }

        public bool CleanupSkipped { get; set; }

        public ulong? Restored { get; set; }

        public Dictionary<string, ulong> Starts { get; } = new(StringComparer.Ordinal);

        public bool Ready { get; set; }

        public Dictionary<string, ulong> Attempts { get; } = new(StringComparer.Ordinal);

        public Dictionary<string, ulong> Acks { get; } = new(StringComparer.Ordinal);

        public List<(string Source, ulong Count, ulong Id)> AckedIds { get; } = [];
    }

    /// <summary>What the campaign knows across kills.</summary>
    private sealed class CampaignState
    {
        public Dictionary<string, ulong> MaxAck { get; } = new(StringComparer.Ordinal);

        public Dictionary<string, ulong> MaxAttempt { get; } = new(StringComparer.Ordinal);

        public Dictionary<string, ulong> Recovered { get; } = new(StringComparer.Ordinal);

        public ulong RecoveredId { get; set; }

        public ulong Pointer { get; set; }
    }

    /// <summary>The store directory as the file system shows it, without the library's help.</summary>
    private sealed class StoreSnapshot
    {
        public required string CheckpointsDirectory { get; init; }

        /// <summary>Ids of checkpoint directories with a manifest, ascending.</summary>
        public List<ulong> Manifests { get; } = [];

        /// <summary>Ids of checkpoint directories without a manifest, ascending.</summary>
        public List<ulong> Orphans { get; } = [];

        /// <summary>Full paths of temp files, in checkpoints/ and in the checkpoint directories.</summary>
        public List<string> Temps { get; } = [];

        /// <summary>Full paths of temp files of the latest pointer (a subset of <see cref="Temps"/>).</summary>
        public List<string> PointerTemps { get; } = [];

        public List<string> Unexpected { get; } = [];

        public ulong? Pointer { get; private set; }

        public string? PointerProblem { get; private set; }

        /// <summary>The id of the checkpoint directory holding <paramref name="path"/>, or <see langword="null"/> for checkpoints/ itself.</summary>
        public static ulong? DirectoryIdOf(string path) =>
            FileManifestStore.TryParseDirectoryName(Path.GetFileName(Path.GetDirectoryName(path)!), out var id) ? id : null;

        /// <summary>The latest checkpoint as <c>CleanupOrphansAsync</c> sees it: the highest manifest id or the pointer.</summary>
        public ulong LatestId => Math.Max(Manifests.LastOrDefault(), Pointer ?? 0);

        public static StoreSnapshot Take(string root)
        {
            var checkpoints = Path.Combine(root, FileManifestStore.CheckpointsDirectoryName);
            var snapshot = new StoreSnapshot { CheckpointsDirectory = checkpoints };
            if (!Directory.Exists(root))
            {
                return snapshot;
            }

            foreach (var entry in Directory.EnumerateFileSystemEntries(root))
            {
                // The writer's owner lease (FileCheckpoint's lease file) is the only other entry of the root.
                var isLease = Path.GetFileName(entry) == FileCheckpoint.LeaseFileName && File.Exists(entry);
                if ((entry != checkpoints && !isLease) || File.GetAttributes(entry).HasFlag(FileAttributes.ReparsePoint))
                {
                    snapshot.Unexpected.Add(entry);
                }
            }

            if (!Directory.Exists(checkpoints))
            {
                return snapshot;
            }

            foreach (var entry in new DirectoryInfo(checkpoints).EnumerateFileSystemInfos())
            {
                var name = entry.Name;
                if (entry is DirectoryInfo directory && entry.LinkTarget is null && FileManifestStore.TryParseDirectoryName(name, out var id))
                {
                    (File.Exists(Path.Combine(entry.FullName, ManifestFormat.FileName)) ? snapshot.Manifests : snapshot.Orphans).Add(id);
                    foreach (var inner in directory.EnumerateFileSystemInfos())
                    {
                        if (inner is FileInfo && inner.LinkTarget is null && (inner.Name is ManifestFormat.FileName or StateSidecarInfo.FileName))
                        {
                            continue;
                        }

                        if (inner is FileInfo && IsTempOf(inner.Name, ManifestFormat.FileName, StateSidecarInfo.FileName))
                        {
                            snapshot.Temps.Add(inner.FullName);
                        }
                        else
                        {
                            snapshot.Unexpected.Add(inner.FullName);
                        }
                    }
                }
                else if (entry is FileInfo && entry.LinkTarget is null && name == FileManifestStore.LatestPointerFileName)
                {
                    snapshot.ReadPointer(entry.FullName);
                }
                else if (entry is FileInfo && IsTempOf(name, FileManifestStore.LatestPointerFileName))
                {
                    snapshot.Temps.Add(entry.FullName);
                    snapshot.PointerTemps.Add(entry.FullName);
                }
                else
                {
                    snapshot.Unexpected.Add(entry.FullName);
                }
            }

            snapshot.Manifests.Sort();
            snapshot.Orphans.Sort();
            snapshot.Temps.Sort(StringComparer.Ordinal);
            return snapshot;
        }

        private static bool IsTempOf(string name, params string[] targets) =>
            name.EndsWith(DurableFile.TempSuffix, StringComparison.Ordinal) && targets.Any(t => name.StartsWith(t + ".", StringComparison.Ordinal));

        private void ReadPointer(string path)
        {
            try
            {
                var text = Encoding.ASCII.GetString(DurableFile.ReadPrivate(path, 64) ?? []);
                if (!text.EndsWith('\n') || !ulong.TryParse(text.AsSpan(0, text.Length - 1), NumberStyles.None, CultureInfo.InvariantCulture, out var id) || id == 0)
                {
                    PointerProblem = $"holds '{text}', not an id and a newline";
                    return;
                }

                Pointer = id;
            }
            catch (CheckpointException ex)
            {
                PointerProblem = $"cannot be read: {ex.Message}";
            }
        }
    }
}
