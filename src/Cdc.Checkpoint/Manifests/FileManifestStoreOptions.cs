using Cdc.Checkpoint.Offsets;

namespace Cdc.Checkpoint.Manifests;

/// <summary>Options of <see cref="FileManifestStore"/>; every value is checked when set.</summary>
public sealed class FileManifestStoreOptions
{
    /// <summary>The largest manifest file read, in bytes.</summary>
    public const long DefaultMaxManifestBytes = 16 * 1024 * 1024;

    /// <summary>The largest sidecar read, in bytes.</summary>
    public const long DefaultMaxSidecarBytes = 256 * 1024 * 1024;

    private readonly int _retainCount = 10;
    private readonly long _maxManifestBytes = DefaultMaxManifestBytes;
    private readonly long _maxSidecarBytes = DefaultMaxSidecarBytes;
    private readonly OffsetCodecRegistry _codecs = OffsetCodecRegistry.Empty;

    /// <summary>
    /// How many usable checkpoints to keep after each save (older ones are pruned, never the latest); 0 turns
    /// automatic pruning off.
    /// </summary>
    /// <value>Default 10.</value>
    /// <exception cref="ArgumentOutOfRangeException">Negative.</exception>
    public int RetainCount
    {
        get => _retainCount;
        init
        {
            ArgumentOutOfRangeException.ThrowIfNegative(value);
            _retainCount = value;
        }
    }

    /// <summary>The largest manifest file the store reads; larger files are refused as not ours.</summary>
    /// <value>Default 16 MiB.</value>
    /// <exception cref="ArgumentOutOfRangeException">Less than 1 KiB.</exception>
    public long MaxManifestBytes
    {
        get => _maxManifestBytes;
        init
        {
            ArgumentOutOfRangeException.ThrowIfLessThan(value, 1024);
            _maxManifestBytes = value;
        }
    }

    /// <summary>The largest sidecar the store writes or reads.</summary>
    /// <value>Default 256 MiB; at most <see cref="Array.MaxLength"/>.</value>
    /// <exception cref="ArgumentOutOfRangeException">Less than 1 or more than <see cref="Array.MaxLength"/>.</exception>
    public long MaxSidecarBytes
    {
        get => _maxSidecarBytes;
        init
        {
            ArgumentOutOfRangeException.ThrowIfLessThan(value, 1);
            ArgumentOutOfRangeException.ThrowIfGreaterThan(value, Array.MaxLength);
            _maxSidecarBytes = value;
        }
    }

    /// <summary>Codecs that read typed offsets back; source types no codec claims read as <see cref="GenericOffset"/>.</summary>
    /// <value>Default <see cref="OffsetCodecRegistry.Empty"/>.</value>
    public OffsetCodecRegistry Codecs
    {
        get => _codecs;
        init
        {
            ArgumentNullException.ThrowIfNull(value);
            _codecs = value;
        }
    }

    /// <summary>
    /// Test hook (Proof: the multi-writer race): write without the owner lease, to show that the store's own
    /// no-replace writes keep every acknowledged manifest valid even when two writers bypass it. Never set in production.
    /// </summary>
    internal bool WithoutOwnerLeaseForTests { get; init; }
}
