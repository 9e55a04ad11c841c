namespace Cdc.Checkpoint.Cursors;

/// <summary>Settings of a <see cref="CursorCheckpointStore"/>. Each property is validated when set.</summary>
public sealed class CursorCheckpointStoreOptions
{
    private readonly int _maxFileBytes = 64 * 1024;

    /// <summary>The largest cursor file the store will read; larger files are refused as not ours.</summary>
    /// <value>65,536 bytes.</value>
    /// <exception cref="ArgumentOutOfRangeException">Below 1,024 or above 16 MiB.</exception>
    public int MaxFileBytes
    {
        get => _maxFileBytes;
        init
        {
            ArgumentOutOfRangeException.ThrowIfLessThan(value, 1024, nameof(MaxFileBytes));
            ArgumentOutOfRangeException.ThrowIfGreaterThan(value, 16 * 1024 * 1024, nameof(MaxFileBytes));
            _maxFileBytes = value;
        }
    }
}
