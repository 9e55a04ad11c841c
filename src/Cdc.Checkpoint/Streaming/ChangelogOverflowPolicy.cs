namespace Cdc.Checkpoint.Streaming;

/// <summary>What a full <see cref="StreamChangelogBuffer"/> does with a new entry.</summary>
public enum ChangelogOverflowPolicy
{
    /// <summary>Keep the buffered entries and drop the new one (the push reports <see langword="false"/>).</summary>
    DropNew = 0,

    /// <summary>Discard the oldest buffered entry to make room for the new one.</summary>
    OverwriteOldest = 1,
}
