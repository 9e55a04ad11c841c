using Cdc.Checkpoint.Offsets;

namespace Cdc.Checkpoint.Files;

/// <summary>Options of a <see cref="CheckpointLog"/>.</summary>
public sealed class CheckpointLogOptions
{
    /// <summary>The smallest segment.</summary>
    public const int MinSegmentBytes = 64 * 1024;

    /// <summary>The largest segment.</summary>
    public const int MaxSegmentBytes = 64 * 1024 * 1024;

    private int _segmentBytes = 1024 * 1024;
    private int _maxRecordBytes = 64 * 1024;

    /// <summary>
    /// The codecs that read typed offsets back (for example <c>OffsetCodecRegistry.Empty.WithPostgres()</c>). Offsets a
    /// log saves teach it their own codec, so this matters only for loading records the process has not written itself.
    /// </summary>
    /// <value>Default: <see cref="OffsetCodecRegistry.Empty"/> (unknown source types load as <see cref="GenericOffset"/>).</value>
    public OffsetCodecRegistry Codecs { get; set; } = OffsetCodecRegistry.Empty;

    /// <summary>
    /// The length of a segment, zero-filled when it is created: saves append into it without changing the file's size,
    /// and when the next frame does not fit, the live records are compacted into a fresh segment.
    /// </summary>
    /// <value>Default: 1 MiB (about 3,000 saves of a PostgreSQL offset between compactions). A multiple of 4096 from
    /// <see cref="MinSegmentBytes"/> to <see cref="MaxSegmentBytes"/>.</value>
    public int SegmentBytes
    {
        get => _segmentBytes;
        set
        {
            ArgumentOutOfRangeException.ThrowIfLessThan(value, MinSegmentBytes);
            ArgumentOutOfRangeException.ThrowIfGreaterThan(value, MaxSegmentBytes);
            if (value % 4096 != 0)
            {
                throw new ArgumentOutOfRangeException(nameof(value), value, "SegmentBytes must be a multiple of 4096.");
            }

            _segmentBytes = value;
        }
    }

    /// <summary>The largest record (frame payload) that is written or read; a larger save is refused with <see cref="CheckpointErrorCode.RecordTooLarge"/>.</summary>
    /// <value>Default: 64 KiB. From 1 KiB to 1 MiB, and at most a quarter of <see cref="SegmentBytes"/>.</value>
    public int MaxRecordBytes
    {
        get => _maxRecordBytes;
        set
        {
            ArgumentOutOfRangeException.ThrowIfLessThan(value, 1024);
            ArgumentOutOfRangeException.ThrowIfGreaterThan(value, 1024 * 1024);
            _maxRecordBytes = value;
        }
    }

    /// <summary>
    /// Whether a missing checkpoint directory is created (mode 0700; its parent must exist). When
    /// <see langword="false"/>, a missing directory is an error, so a mistyped path never silently starts from scratch.
    /// </summary>
    /// <value>Default: <see langword="false"/>.</value>
    public bool CreateDirectory { get; set; }

    internal void Validate()
    {
        if (MaxRecordBytes > SegmentBytes / 4)
        {
            throw new ArgumentOutOfRangeException(nameof(MaxRecordBytes), MaxRecordBytes, $"MaxRecordBytes must be at most a quarter of SegmentBytes ({SegmentBytes}).");
        }
    }
}
