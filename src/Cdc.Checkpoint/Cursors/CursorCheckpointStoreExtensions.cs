using Cdc.Checkpoint.Files;

namespace Cdc.Checkpoint.Cursors;

/// <summary>
/// Saves and loads a pull cursor's durable position (<see cref="CursorCheckpoint"/>) through any
/// <see cref="ICheckpointStore"/>, as a <see cref="CursorOffset"/> under the source type <c>cursor</c>: one cursor per
/// store (a file checkpoint directory, a table store's checkpoint name, a manifest store).
/// </summary>
/// <remarks>
/// Fail-closed: a stored position of another consumer identity is <see cref="CheckpointErrorCode.IdentityMismatch"/>,
/// a stored value that is not a cursor position is <see cref="CheckpointErrorCode.Corrupt"/> (the store's own checks
/// come first), never "start from the beginning". Saves go through the store's progress guards: moving back is
/// <see cref="CheckpointErrorCode.OffsetRegression"/> and overwriting another consumer's position is refused; going
/// back on purpose is <see cref="RewindCursorAsync"/>.
/// </remarks>
public static class CursorCheckpointStoreExtensions
{
    /// <summary>Loads the cursor position stored in <paramref name="store"/>, checking that it belongs to <paramref name="consumerIdentity"/>.</summary>
    /// <param name="store">The store.</param>
    /// <param name="consumerIdentity">The identity of the consumer resuming the cursor.</param>
    /// <param name="cancellationToken">Cancels the load.</param>
    /// <returns>The checkpoint (with <see cref="CursorCheckpoint.SavedAt"/> when the store records it), or <see langword="null"/> when none was saved: start from <see cref="CursorCheckpoint.NotStarted"/>.</returns>
    /// <exception cref="ArgumentException"><paramref name="consumerIdentity"/> is not valid.</exception>
    /// <exception cref="CheckpointException">
    /// <see cref="CheckpointErrorCode.IdentityMismatch"/> when the position belongs to another consumer;
    /// <see cref="CheckpointErrorCode.Corrupt"/> when the stored value is not a cursor position; any error of the store's load.
    /// </exception>
    public static async ValueTask<CursorCheckpoint?> LoadCursorAsync(this ICheckpointStore store, string consumerIdentity, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(store);
        CursorCheckpoint.ValidateIdentity(consumerIdentity, nameof(consumerIdentity));
        var record = await store.LoadAsync(CursorOffset.CursorSourceType, cancellationToken).ConfigureAwait(false);
        if (record is null)
        {
            return null;
        }

        if (record.Offset is not CursorOffset cursor)
        {
            throw new CheckpointException(
                CheckpointErrorCode.Corrupt,
                $"The '{CursorOffset.CursorSourceType}' checkpoint in {Describe(store)} holds {record.Offset}, which is not a cursor position. Refusing to start the cursor from the beginning; restore the checkpoint or set the position explicitly with RewindCursorAsync.");
        }

        var stored = cursor.Checkpoint;
        if (!string.Equals(stored.ConsumerIdentity, consumerIdentity, StringComparison.Ordinal))
        {
            throw new CheckpointException(
                CheckpointErrorCode.IdentityMismatch,
                $"The cursor checkpoint in {Describe(store)} is bound to consumer identity '{stored.ConsumerIdentity}', but it was opened as '{consumerIdentity}'. Refusing to resume another consumer's position; give this consumer its own store (directory or checkpoint name), or rewind the cursor explicitly if the identity changed on purpose.");
        }

        if (cursor.CommittedCount != record.CommittedEventCount)
        {
            throw new CheckpointException(
                CheckpointErrorCode.Corrupt,
                $"The cursor checkpoint in {Describe(store)} ({stored.DescribePosition()}) has committed event count {record.CommittedEventCount}, but a cursor at that position saves {cursor.CommittedCount}. It was not written by SaveCursorAsync; restore it or set the position with RewindCursorAsync.");
        }

        return stored with { SavedAt = record.SavedAt };
    }

    /// <summary>
    /// Durably saves <paramref name="checkpoint"/> (typically <see cref="ChangelogCursor.Checkpoint"/> once the delivered
    /// records are processed). Saving the stored position again is a no-op; moving backwards is refused.
    /// </summary>
    /// <param name="store">The store.</param>
    /// <param name="checkpoint">The position to save.</param>
    /// <param name="cancellationToken">Cancels the save before it writes.</param>
    /// <returns>A task that completes once the position is durable.</returns>
    /// <exception cref="CheckpointException">
    /// <see cref="CheckpointErrorCode.OffsetRegression"/> when behind the stored position,
    /// <see cref="CheckpointErrorCode.OffsetDiverged"/> or <see cref="CheckpointErrorCode.ConflictingOffset"/> when the
    /// stored position is another consumer's (nothing written); any error of the store's save.
    /// </exception>
    public static ValueTask SaveCursorAsync(this ICheckpointStore store, CursorCheckpoint checkpoint, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(store);
        ArgumentNullException.ThrowIfNull(checkpoint);
        var offset = new CursorOffset(checkpoint);
        return store.SaveAsync(offset, offset.CommittedCount, cancellationToken);
    }

    /// <summary>
    /// Sets the stored cursor position to <paramref name="checkpoint"/> even if that is backwards or another identity:
    /// the only way back, recorded by the store with <paramref name="reason"/>.
    /// </summary>
    /// <param name="store">The store.</param>
    /// <param name="checkpoint">The new position and identity.</param>
    /// <param name="reason">Why; required.</param>
    /// <param name="cancellationToken">Cancels the rewind before it writes.</param>
    /// <returns>A task that completes once the position is durable.</returns>
    /// <exception cref="ArgumentException"><paramref name="reason"/> is empty.</exception>
    /// <exception cref="CheckpointException">Any error of the store's rewind.</exception>
    public static ValueTask RewindCursorAsync(this ICheckpointStore store, CursorCheckpoint checkpoint, string reason, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(store);
        ArgumentNullException.ThrowIfNull(checkpoint);
        var offset = new CursorOffset(checkpoint);
        return store.RewindAsync(offset, offset.CommittedCount, reason, cancellationToken);
    }

    private static string Describe(ICheckpointStore store) => store is FileCheckpoint file
        ? $"checkpoint directory '{file.DirectoryPath}'"
        : $"this {store.GetType().Name}";
}
