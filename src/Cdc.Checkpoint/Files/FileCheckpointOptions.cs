using Cdc.Checkpoint.Offsets;

namespace Cdc.Checkpoint.Files;

/// <summary>Options of a <see cref="FileCheckpoint"/>.</summary>
public sealed class FileCheckpointOptions
{
    private long _maxRecordBytes = 1024 * 1024;

    /// <summary>
    /// The codecs that read typed offsets back (for example <c>OffsetCodecRegistry.Empty.WithPostgres()</c>).
    /// Offsets a checkpoint saves teach it their own codec, so this matters only for loading records the process
    /// has not written itself.
    /// </summary>
    /// <value>Default: <see cref="OffsetCodecRegistry.Empty"/> (unknown source types load as <see cref="GenericOffset"/>).</value>
    public OffsetCodecRegistry Codecs { get; set; } = OffsetCodecRegistry.Empty;

    /// <summary>The largest record file that will be read; larger files are refused as not ours.</summary>
    /// <value>Default: 1 MiB. Must be positive.</value>
    public long MaxRecordBytes
    {
        get => _maxRecordBytes;
        set
        {
            ArgumentOutOfRangeException.ThrowIfNegativeOrZero(value);
            _maxRecordBytes = value;
        }
    }

    /// <summary>
    /// Whether a missing checkpoint directory is created (mode 0700; its parent must exist). When
    /// <see langword="false"/>, a missing directory is an error, so a mistyped path never silently starts from scratch.
    /// </summary>
    /// <value>Default: <see langword="false"/>.</value>
    public bool CreateDirectory { get; set; }
}
