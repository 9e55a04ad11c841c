using Cdc.Checkpoint.Files;

namespace Cdc.Checkpoint.Hosting.Stores;

/// <summary>
/// Options of a <see cref="FileCheckpoint"/> registered with
/// <c>services.AddCdcFileCheckpointStore(name, section)</c>,
/// bound from a configuration section (keys as the property names) and validated when the host starts.
/// </summary>
public sealed class FileCheckpointStoreOptions
{
    /// <summary>The checkpoint directory (key <c>Directory</c>). Required.</summary>
    /// <value>No default.</value>
    public string? Directory { get; set; }

    /// <summary>
    /// Whether the directory (and missing parents) is created, with mode 0700, when it does not exist (key
    /// <c>CreateDirectory</c>). With <see langword="false"/> a missing directory refuses to start
    /// (<see cref="CheckpointErrorCode.DirectoryNotFound"/>), which protects against a mistyped path silently starting a
    /// new consumer from the beginning.
    /// </summary>
    /// <value>Default <see langword="true"/>.</value>
    public bool CreateDirectory { get; set; } = true;

    /// <summary>The largest record file accepted (key <c>MaxRecordBytes</c>).</summary>
    /// <value>Default 1 MiB; positive.</value>
    public long MaxRecordBytes { get; set; } = 1024 * 1024;
}
