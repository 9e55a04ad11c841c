using System.Diagnostics.CodeAnalysis;
using Cdc.Checkpoint.Leasing;
using Cdc.Checkpoint.Offsets;

namespace Cdc.Checkpoint.Files;

/// <summary>
/// The names of the files in a checkpoint directory (docs/file-format.md), for tools that list or check one without
/// opening it as a store: which entry is a record and of which source type, which is a leftover temp file.
/// </summary>
public static class CheckpointFileNames
{
    /// <summary>The suffix of the temp file every durable write in a checkpoint directory or manifest store goes through before its rename; one that is left over marks an interrupted write and is never read.</summary>
    public const string TempFileSuffix = DurableFile.TempSuffix;

    /// <summary>The owner file a rustcdc process keeps (<c>HOSTNAME:PID</c>); while it names a live process on this host, every writer refuses the directory.</summary>
    public const string RustcdcOwnerFileName = OwnerLease.RustcdcOwnerFileName;

    /// <summary>The record file name of <paramref name="sourceType"/>: <c>checkpoint_&lt;source type&gt;.json</c>.</summary>
    /// <param name="sourceType">A source type such as <c>postgres</c>.</param>
    /// <returns>The file name.</returns>
    /// <exception cref="ArgumentException"><paramref name="sourceType"/> is not a valid source type (<c>[a-z][a-z0-9_]{0,63}</c>).</exception>
    public static string ForRecord(string sourceType)
    {
        SourceTypeName.Validate(sourceType);
        return CheckpointRecordFile.FileNameFor(sourceType);
    }

    /// <summary>Whether <paramref name="fileName"/> is the name of a record file, and of which source type.</summary>
    /// <param name="fileName">A file name (not a path).</param>
    /// <param name="sourceType">The source type its name stands for, when it is one.</param>
    /// <returns><see langword="true"/> for <c>checkpoint_&lt;valid source type&gt;.json</c>.</returns>
    public static bool TryGetRecordSourceType(string fileName, [NotNullWhen(true)] out string? sourceType)
    {
        ArgumentNullException.ThrowIfNull(fileName);
        sourceType = CheckpointRecordFile.SourceTypeOf(fileName);
        return sourceType is not null;
    }
}
