namespace Cdc.Checkpoint.Streaming;

/// <summary>The kind of a <see cref="StreamChangelogEntry"/>. Stored as one byte; values are stable.</summary>
public enum StreamChangeOp : byte
{
    /// <summary>A row was inserted (or a record was pushed by a source).</summary>
    Insert = 0,

    /// <summary>A row was updated.</summary>
    Update = 1,

    /// <summary>A row was deleted.</summary>
    Delete = 2,

    /// <summary>A source advanced its watermark.</summary>
    Watermark = 3,

    /// <summary>A checkpoint barrier passed the source.</summary>
    Barrier = 4,
}
