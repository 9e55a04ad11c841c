using Cdc.Checkpoint.Files;
using Cdc.Checkpoint.Leasing;

namespace Cdc.Checkpoint.Torture;

/// <summary>
/// The store a child mode drives: a <see cref="FileCheckpoint"/> (rename mode) or a <see cref="CheckpointLog"/>
/// (append-only log), so that both go through the very same writer, campaign and checks.
/// </summary>
public sealed class TortureStore : IDisposable
{
    private readonly Func<ValueTask<LeaseInfo>> _acquire;
    private readonly Func<ValueTask<CheckpointRecord?>> _latest;
    private readonly IDisposable _owner;

    private TortureStore(ICheckpointStore store, Func<ValueTask<LeaseInfo>> acquire, Func<ValueTask<CheckpointRecord?>> latest, IDisposable owner)
    {
        Store = store;
        _acquire = acquire;
        _latest = latest;
        _owner = owner;
    }

    /// <summary>The store.</summary>
    public ICheckpointStore Store { get; }

    /// <summary>Opens the store of <paramref name="dir"/> with the harness options.</summary>
    /// <param name="dir">The checkpoint directory (created when missing).</param>
    /// <param name="log">A <see cref="CheckpointLog"/> instead of a <see cref="FileCheckpoint"/>.</param>
    /// <returns>The store.</returns>
    public static TortureStore Open(string dir, bool log)
    {
        if (log)
        {
            var checkpointLog = new CheckpointLog(dir, TortureOffsets.LogOptions());
            return new TortureStore(checkpointLog, () => checkpointLog.AcquireLeaseAsync(), () => checkpointLog.LoadLatestAsync(), checkpointLog);
        }

        var file = new FileCheckpoint(dir, TortureOffsets.Options());
        return new TortureStore(file, () => file.AcquireLeaseAsync(), () => file.LoadLatestAsync(), file);
    }

    /// <summary>Takes the owner lease.</summary>
    /// <returns>The lease.</returns>
    public ValueTask<LeaseInfo> AcquireLeaseAsync() => _acquire();

    /// <summary>Loads the latest record.</summary>
    /// <returns>The record, or <see langword="null"/>.</returns>
    public ValueTask<CheckpointRecord?> LoadLatestAsync() => _latest();

    /// <inheritdoc />
    public void Dispose() => _owner.Dispose();
}

/// <summary>Child modes of the checkpoint log's fault tests.</summary>
public static class LogChildModes
{
    /// <summary>
    /// <c>log-saves DIR FROM TO</c>: one CheckpointLog saves FROM, FROM+1, … TO, printing <c>ok N</c> or
    /// <c>error CODE N</c> for each and going on after an error, so a test sees what the store does after a failure.
    /// </summary>
    /// <param name="dir">The checkpoint directory.</param>
    /// <param name="from">The first count.</param>
    /// <param name="to">The last count.</param>
    /// <returns>0 when every save succeeded, 1 otherwise.</returns>
    public static async Task<int> SavesAsync(string dir, ulong from, ulong to)
    {
        using var log = TortureStore.Open(dir, log: true);
        var failed = false;
        for (var count = from; count <= to; count++)
        {
            try
            {
                await log.Store.SaveAsync(TortureOffsets.At(count), count);
                ChildModes.Out(string.Create(System.Globalization.CultureInfo.InvariantCulture, $"ok {count}"));
            }
            catch (CheckpointException ex)
            {
                failed = true;
                Console.Error.WriteLine(ex.Message);
                ChildModes.Out(string.Create(System.Globalization.CultureInfo.InvariantCulture, $"error {ex.ErrorCode} {count}"));
            }
        }

        return failed ? 1 : 0;
    }
}
