using Cdc.Checkpoint.Offsets;

namespace Cdc.Checkpoint;

/// <summary>
/// The monotonic-progress rules every store applies before a save, in one place so all stores agree.
/// </summary>
/// <remarks>
/// Given the stored record and the proposed (offset, count):
/// <list type="bullet">
/// <item>a lower count is an <see cref="CheckpointErrorCode.OffsetRegression"/>;</item>
/// <item>an equal count with a different offset is a <see cref="CheckpointErrorCode.ConflictingOffset"/>; with the same
/// offset the save is an idempotent repeat;</item>
/// <item>a higher count whose ordered offset is <see cref="OffsetOrder.Before"/> the stored one is an
/// <see cref="CheckpointErrorCode.OffsetRegression"/>, and one that is <see cref="OffsetOrder.Diverged"/> is an
/// <see cref="CheckpointErrorCode.OffsetDiverged"/> — the count growing does not excuse moving backwards.</item>
/// </list>
/// </remarks>
public static class ProgressGuard
{
    /// <summary>The outcome of a check.</summary>
    public enum Verdict
    {
        /// <summary>The save moves forward (or there is no stored record): write it.</summary>
        Advance,

        /// <summary>The save repeats the stored record exactly: nothing to write.</summary>
        Repeat,
    }

    /// <summary>Checks a proposed save against the stored record.</summary>
    /// <param name="where">The store and name, for messages (a file path or <c>table/name</c>).</param>
    /// <param name="existing">The stored record, or <see langword="null"/>.</param>
    /// <param name="offset">The proposed offset.</param>
    /// <param name="committedEventCount">The proposed count.</param>
    /// <returns><see cref="Verdict.Advance"/> or <see cref="Verdict.Repeat"/>.</returns>
    /// <exception cref="CheckpointException">The save is refused; the message states both positions and how to move back on purpose.</exception>
    public static Verdict Check(string where, CheckpointRecord? existing, CheckpointOffset offset, ulong committedEventCount)
    {
        ArgumentNullException.ThrowIfNull(offset);
        if (existing is null)
        {
            return Verdict.Advance;
        }

        const string Hint = "Nothing was written. If moving back is intended, use an explicit rewind with a reason (RewindAsync or `cdc-checkpoint rewind`).";
        if (committedEventCount < existing.CommittedEventCount)
        {
            throw new CheckpointException(
                CheckpointErrorCode.OffsetRegression,
                $"Refusing to save {offset.SourceType} checkpoint at {where}: committed event count {committedEventCount} is lower than the stored {existing.CommittedEventCount} (stored offset {existing.Offset}, proposed {offset}). {Hint}");
        }

        if (committedEventCount == existing.CommittedEventCount)
        {
            if (offset.Equals(existing.Offset))
            {
                return Verdict.Repeat;
            }

            throw new CheckpointException(
                CheckpointErrorCode.ConflictingOffset,
                $"Refusing to save {offset.SourceType} checkpoint at {where}: committed event count {committedEventCount} equals the stored one but the offset differs (stored {existing.Offset}, proposed {offset}). {Hint}");
        }

        if (offset.IsOrdered && existing.Offset.IsOrdered)
        {
            switch (offset.CompareTo(existing.Offset))
            {
                case OffsetOrder.Before:
                    throw new CheckpointException(
                        CheckpointErrorCode.OffsetRegression,
                        $"Refusing to save {offset.SourceType} checkpoint at {where}: offset {offset} is behind the stored {existing.Offset} although the event count grows ({existing.CommittedEventCount} → {committedEventCount}). {Hint}");
                case OffsetOrder.Diverged:
                    throw new CheckpointException(
                        CheckpointErrorCode.OffsetDiverged,
                        $"Refusing to save {offset.SourceType} checkpoint at {where}: offset {offset} is not comparable with the stored {existing.Offset} (another slot, server or history). {Hint}");
            }
        }
        else if (offset.IsOrdered != existing.Offset.IsOrdered || offset.GetType() != existing.Offset.GetType())
        {
            throw new CheckpointException(
                CheckpointErrorCode.OffsetDiverged,
                $"Refusing to save {offset.SourceType} checkpoint at {where}: the stored offset {existing.Offset} and the proposed {offset} are of different kinds. {Hint}");
        }

        return Verdict.Advance;
    }
}
