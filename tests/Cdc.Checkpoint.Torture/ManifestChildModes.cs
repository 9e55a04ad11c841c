using System.Globalization;
using Cdc.Checkpoint.Manifests;

namespace Cdc.Checkpoint.Torture;

/// <summary>The manifest-store child modes; like <see cref="ChildModes"/>, each prints its facts as single flushed stdout lines.</summary>
public static class ManifestChildModes
{
    /// <summary>
    /// The manifest crash-torture writer, <c>manifest-writer DIR [MAX] [--no-cleanup]</c>. It starts the way a
    /// single-writer application should: it removes the leftovers of interrupted writes
    /// (<see cref="FileManifestStore.CleanupOrphansAsync"/>, printing <c>cleaned DIRS TEMPS</c>; with
    /// <c>--no-cleanup</c> it prints <c>cleaned skipped</c> and leaves them to the store's pruning), starts a
    /// coordinator from the newest valid checkpoint (<c>restored ID</c>, 0 for a fresh start), prints
    /// <c>start SOURCE COUNT</c> for every source and <c>ready</c>. Then every source commits concurrently, so the
    /// commits share group writes: <c>attempt SOURCE K</c>, set the operator state and report the offset of count K,
    /// commit, <c>ack SOURCE K ID</c> (ID: a durable manifest holding K). Exits when stdin closes or after MAX
    /// commits per source.
    /// </summary>
    /// <param name="dir">The store's root directory.</param>
    /// <param name="args">The command line (mode and directory first).</param>
    /// <returns>The exit code.</returns>
    public static async Task<int> WriterAsync(string dir, string[] args)
    {
        ArgumentNullException.ThrowIfNull(args);
        var cleanup = !args.Skip(2).Contains("--no-cleanup");
        var max = args.Skip(2).Where(a => a != "--no-cleanup").Select(a => ulong.Parse(a, CultureInfo.InvariantCulture)).DefaultIfEmpty(ulong.MaxValue).First();
        ExitWhenStdinCloses();
        await using var checkpoints = await OpenAsync(dir, cleanup);
        var coordinator = checkpoints.Coordinator;
        var starts = new Dictionary<string, ulong>(StringComparer.Ordinal);
        foreach (var source in ManifestTorture.Sources)
        {
            starts[source] = coordinator.GetSourcePosition(source)?.CommittedEventCount ?? 0;
        }

        ChildModes.Out("ready");
        await Task.WhenAll(ManifestTorture.Sources.Select(source => Task.Run(() => CommitLoopAsync(checkpoints, source, starts[source], max))));
        return 0;
    }

    /// <summary>The next owner after a campaign: the same start-up as the writer (cleanup, restore, start lines), no commit.</summary>
    /// <param name="dir">The store's root directory.</param>
    /// <returns>The exit code.</returns>
    public static async Task<int> ShowAsync(string dir)
    {
        await using var checkpoints = await OpenAsync(dir, cleanup: true);
        return 0;
    }

    private static async Task<ManifestCheckpointStore> OpenAsync(string dir, bool cleanup)
    {
        var store = new FileManifestStore(dir, ManifestTorture.StoreOptions());
        if (cleanup)
        {
            var cleaned = await store.CleanupOrphansAsync();
            ChildModes.Out(string.Create(CultureInfo.InvariantCulture, $"cleaned {cleaned.RemovedCheckpointDirectories.Length} {cleaned.RemovedTempFiles.Length}"));
        }
        else
        {
            ChildModes.Out("cleaned skipped");
        }

        var checkpoints = await ManifestCheckpointStore.OpenAsync(store, ManifestTorture.CoordinatorOptions());
        var coordinator = checkpoints.Coordinator;
        ChildModes.Out(string.Create(CultureInfo.InvariantCulture, $"restored {coordinator.RestoredFrom?.CheckpointId ?? 0}"));
        foreach (var source in ManifestTorture.Sources)
        {
            // The adapter's source is read back through the ICheckpointStore interface, the others from the coordinator.
            var count = source == ManifestTorture.AdapterSource
                ? (await checkpoints.LoadAsync(source))?.CommittedEventCount ?? 0
                : coordinator.GetSourcePosition(source)?.CommittedEventCount ?? 0;
            ChildModes.Out(string.Create(CultureInfo.InvariantCulture, $"start {source} {count}"));
        }

        return checkpoints;
    }

    private static async Task CommitLoopAsync(ManifestCheckpointStore checkpoints, string source, ulong start, ulong max)
    {
        var coordinator = checkpoints.Coordinator;
        for (ulong i = 1; i <= max; i++)
        {
            var count = start + i;
            ChildModes.Out(string.Create(CultureInfo.InvariantCulture, $"attempt {source} {count}"));

            // State first, then the offset: a manifest taken between the two holds the state of count K+1 with the
            // offset of K, never the other way round.
            coordinator.SetOperatorState(ManifestTorture.OperatorOf(source), ManifestTorture.StateFor(source, count));
            ulong id;
            if (source == ManifestTorture.AdapterSource)
            {
                await checkpoints.SaveAsync(ManifestTorture.OffsetFor(source, count), count);

                // The last durable manifest is at least the one that served this save.
                id = coordinator.LastCommitted!.CheckpointId;
            }
            else
            {
                coordinator.ReportOffset(source, ManifestTorture.OffsetFor(source, count), count);
                id = (await coordinator.CommitAsync()).CheckpointId;
            }

            ChildModes.Out(string.Create(CultureInfo.InvariantCulture, $"ack {source} {count} {id}"));
        }
    }

    /// <summary>
    /// One writer of the multi-writer race, <c>manifest-race DIR LAST [--no-lease]</c>: prints <c>ready</c>, waits for a
    /// line on stdin (so that all writers start together), then saves checkpoints 1 to LAST, each with a sidecar of its
    /// own (process id and checkpoint id), printing <c>won ID SHA256</c> when the save returned (the sidecar's hash) or
    /// <c>lost ID CODE</c> for a <see cref="CheckpointException"/>. <c>--no-lease</c> bypasses the owner lease
    /// (<see cref="FileManifestStoreOptions"/> test hook), so that only the store's no-replace writes stand between the
    /// writers.
    /// </summary>
    /// <param name="dir">The store's root directory.</param>
    /// <param name="args">The command line (mode and directory first).</param>
    /// <returns>The exit code.</returns>
    public static async Task<int> RaceAsync(string dir, string[] args)
    {
        ArgumentNullException.ThrowIfNull(args);
        var last = ulong.Parse(args[2], CultureInfo.InvariantCulture);
        // RetainCount 0: no pruning, so that every acknowledged checkpoint can be checked afterwards.
        var options = new FileManifestStoreOptions { Codecs = ManifestTorture.StoreOptions().Codecs, RetainCount = 0, WithoutOwnerLeaseForTests = args.Contains("--no-lease") };
        await using var store = new FileManifestStore(dir, options);
        ChildModes.Out("ready");
        _ = Console.In.ReadLine();
        for (ulong id = 1; id <= last; id++)
        {
            var sidecar = System.Text.Encoding.UTF8.GetBytes(string.Create(CultureInfo.InvariantCulture, $"state of checkpoint {id} by process {Environment.ProcessId}"));
            var manifest = new CheckpointManifest
            {
                CheckpointId = id,
                Epoch = 1,
                CreatedAt = DateTimeOffset.UtcNow,
                OperatorStates = System.Collections.Immutable.ImmutableSortedDictionary.CreateRange(
                    StringComparer.Ordinal, [KeyValuePair.Create("op", OperatorState.InSidecar(0, sidecar.Length))]),
            };
            try
            {
                await store.SaveAsync(manifest, sidecar);
                ChildModes.Out(string.Create(CultureInfo.InvariantCulture, $"won {id} {Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(sidecar))}"));
            }
            catch (CheckpointException ex)
            {
                ChildModes.Out(string.Create(CultureInfo.InvariantCulture, $"lost {id} {ex.ErrorCode}"));
            }
        }

        return 0;
    }

    private static void ExitWhenStdinCloses()
    {
        var watchdog = new Thread(() =>
        {
            while (Console.In.ReadLine() is not null)
            {
            }

            Environment.Exit(3);
        })
        {
            IsBackground = true,
            Name = "stdin watchdog",
        };
        watchdog.Start();
    }
}
