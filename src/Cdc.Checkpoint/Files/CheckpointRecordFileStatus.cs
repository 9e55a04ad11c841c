namespace Cdc.Checkpoint.Files;

/// <summary>
/// One record file of a checkpoint directory as <see cref="CheckpointDirectoryReader"/> read it: the record with its
/// verified checksum, or the reason it cannot be used, and what the file is on disk (its mode, or the link it is).
/// </summary>
/// <param name="Path">The full path.</param>
/// <param name="SourceType">The source type its name stands for.</param>
/// <param name="Record">The record, when it was read and validated (checksum included); otherwise <see langword="null"/>.</param>
/// <param name="Problem">
/// Why the record cannot be used, with its code and the operator's fix (<see cref="CheckpointErrorCode.Corrupt"/>,
/// <see cref="CheckpointErrorCode.UnsupportedFormatVersion"/>, <see cref="CheckpointErrorCode.InsecurePermissions"/>,
/// <see cref="CheckpointErrorCode.SymbolicLinkRefused"/>, …); <see langword="null"/> when <paramref name="Record"/> is set.
/// A consumer would refuse to start on it.
/// </param>
public sealed record CheckpointRecordFileStatus(string Path, string SourceType, CheckpointRecord? Record, CheckpointException? Problem)
{
    /// <summary>The file name.</summary>
    public string FileName => System.IO.Path.GetFileName(Path);

    /// <summary>
    /// The CRC-32C the record carries (8 lower-case hex digits), verified against its contents; <see langword="null"/>
    /// for format versions before 3, which carry none, and when the record could not be read.
    /// </summary>
    public string? Checksum { get; init; }

    /// <summary>The file's permission bits, or <see langword="null"/> when it is a symbolic link or vanished.</summary>
    public UnixFileMode? Mode { get; init; }

    /// <summary>Where the entry points when it is a symbolic link (never followed), or <see langword="null"/>.</summary>
    public string? LinkTarget { get; init; }

    /// <summary>Whether a consumer could load this record: it was read and no problem was found.</summary>
    public bool IsUsable => Problem is null;
}
