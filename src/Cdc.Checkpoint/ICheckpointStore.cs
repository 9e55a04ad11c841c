using Cdc.Checkpoint.Offsets;

namespace Cdc.Checkpoint;

/// <summary>
/// A durable store of typed offsets, one record per source type (file checkpoint) or per checkpoint name (table
/// stores). Every implementation enforces the same progress guards (see <see cref="ProgressGuard"/>) and passes the
/// shared conformance suite.
/// </summary>
public interface ICheckpointStore
{
    /// <summary>
    /// Durably records that everything up to <paramref name="offset"/> (<paramref name="committedEventCount"/> events)
    /// has been processed. Returns only once the record is durable.
    /// </summary>
    /// <param name="offset">The new offset.</param>
    /// <param name="committedEventCount">The number of events committed at that offset; never decreases.</param>
    /// <param name="cancellationToken">Cancels the save before it starts writing.</param>
    /// <exception cref="CheckpointException">
    /// <see cref="CheckpointErrorCode.OffsetRegression"/>, <see cref="CheckpointErrorCode.ConflictingOffset"/> or
    /// <see cref="CheckpointErrorCode.OffsetDiverged"/> when a guard refuses the save (nothing is written), or an
    /// I/O error code when the write failed (the previous record is intact).
    /// </exception>
    ValueTask SaveAsync(CheckpointOffset offset, ulong committedEventCount, CancellationToken cancellationToken = default);

    /// <summary>Loads the record of <paramref name="sourceType"/>, or <see langword="null"/> when there is none yet.</summary>
    /// <param name="sourceType">The source type (file checkpoint) the record is stored under.</param>
    /// <param name="cancellationToken">Cancels the load.</param>
    /// <returns>The record, or <see langword="null"/>.</returns>
    /// <exception cref="CheckpointException">The record exists but cannot be trusted (corrupt, unsupported version, insecure).</exception>
    ValueTask<CheckpointRecord?> LoadAsync(string sourceType, CancellationToken cancellationToken = default);

    /// <summary>
    /// Moves a checkpoint to <paramref name="offset"/> without the progress guards, for example backwards to replay
    /// events. The only way to go back; logged with <paramref name="reason"/> and, where the store has one, written to
    /// its audit log.
    /// </summary>
    /// <param name="offset">The new offset.</param>
    /// <param name="committedEventCount">The new event count.</param>
    /// <param name="reason">Why; required, recorded verbatim.</param>
    /// <param name="cancellationToken">Cancels the operation before it writes.</param>
    /// <exception cref="ArgumentException"><paramref name="reason"/> is empty.</exception>
    ValueTask RewindAsync(CheckpointOffset offset, ulong committedEventCount, string reason, CancellationToken cancellationToken = default);
}
