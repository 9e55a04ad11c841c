namespace Cdc.Checkpoint.Streaming;

/// <summary>Settings of a <see cref="StreamCheckpointManager"/>. Each property is validated when set.</summary>
public sealed class StreamCheckpointOptions
{
    private readonly TimeSpan? _interval;
    private readonly int? _changelogCapacity;
    private readonly int? _maxRetainedCheckpoints;
    private readonly ChangelogOverflowPolicy _overflowPolicy = ChangelogOverflowPolicy.DropNew;
    private readonly long _maxSnapshotBytes = 64L * 1024 * 1024;
    private readonly string? _dataDirectory;

    /// <summary>Whether checkpointing is on. When off the manager does nothing and costs nothing.</summary>
    /// <value><see langword="true"/>.</value>
    public bool Enabled { get; init; } = true;

    /// <summary>
    /// How often <see cref="StreamCheckpointManager.TriggerIfDue"/> takes a checkpoint; <see langword="null"/> for
    /// manual checkpoints only.
    /// </summary>
    /// <value><see langword="null"/>.</value>
    /// <exception cref="ArgumentOutOfRangeException">Not positive.</exception>
    public TimeSpan? Interval
    {
        get => _interval;
        init
        {
            if (value is { } interval)
            {
                ArgumentOutOfRangeException.ThrowIfLessThanOrEqual(interval, TimeSpan.Zero, nameof(Interval));
            }

            _interval = value;
        }
    }

    /// <summary>
    /// Directory of a <see cref="Manifests.FileManifestStore"/> through which <see cref="StreamCheckpointManager.OpenAsync"/>
    /// saves every checkpoint durably and from which it recovers (created with mode 0700 if missing; its parent must
    /// exist). Snapshot files of the older layout (<c>stream-checkpoint-*.snap</c>) found in it are moved into the
    /// manifest store. <see langword="null"/> keeps checkpoints in memory only, unless a store is passed to
    /// <see cref="StreamCheckpointManager.OpenAsync"/>.
    /// </summary>
    /// <value><see langword="null"/>.</value>
    /// <exception cref="ArgumentException">Empty or white space.</exception>
    public string? DataDirectory
    {
        get => _dataDirectory;
        init
        {
            if (value is not null)
            {
                ArgumentException.ThrowIfNullOrWhiteSpace(value, nameof(DataDirectory));
            }

            _dataDirectory = value;
        }
    }

    /// <summary>Capacity of the manager's <see cref="StreamChangelogBuffer"/>; <see langword="null"/> for no changelog.</summary>
    /// <value><see langword="null"/>.</value>
    /// <exception cref="ArgumentOutOfRangeException">Zero or negative.</exception>
    public int? ChangelogCapacity
    {
        get => _changelogCapacity;
        init
        {
            if (value is { } capacity)
            {
                ArgumentOutOfRangeException.ThrowIfNegativeOrZero(capacity, nameof(ChangelogCapacity));
            }

            _changelogCapacity = value;
        }
    }

    /// <summary>What the changelog does when full.</summary>
    /// <value><see cref="ChangelogOverflowPolicy.DropNew"/>.</value>
    /// <exception cref="ArgumentOutOfRangeException">Not a defined policy.</exception>
    public ChangelogOverflowPolicy OverflowPolicy
    {
        get => _overflowPolicy;
        init
        {
            if (value is not (ChangelogOverflowPolicy.DropNew or ChangelogOverflowPolicy.OverwriteOldest))
            {
                throw new ArgumentOutOfRangeException(nameof(OverflowPolicy), value, "Use DropNew or OverwriteOldest.");
            }

            _overflowPolicy = value;
        }
    }

    /// <summary>
    /// How many of the newest checkpoints to keep (in memory and, with a data directory, on disk); older ones are
    /// pruned after each checkpoint. <see langword="null"/> keeps all of them.
    /// </summary>
    /// <value><see langword="null"/>.</value>
    /// <exception cref="ArgumentOutOfRangeException">Zero or negative.</exception>
    public int? MaxRetainedCheckpoints
    {
        get => _maxRetainedCheckpoints;
        init
        {
            if (value is { } max)
            {
                ArgumentOutOfRangeException.ThrowIfNegativeOrZero(max, nameof(MaxRetainedCheckpoints));
            }

            _maxRetainedCheckpoints = value;
        }
    }

    /// <summary>The largest snapshot (state sidecar, or legacy snapshot file) the manager reads; bigger ones are refused as not ours.</summary>
    /// <value>64 MiB.</value>
    /// <exception cref="ArgumentOutOfRangeException">Smaller than <see cref="StreamSnapshotCodec.MinimumLength"/> or larger than the largest array.</exception>
    public long MaxSnapshotBytes
    {
        get => _maxSnapshotBytes;
        init
        {
            ArgumentOutOfRangeException.ThrowIfLessThan(value, StreamSnapshotCodec.MinimumLength, nameof(MaxSnapshotBytes));
            ArgumentOutOfRangeException.ThrowIfGreaterThan(value, Array.MaxLength, nameof(MaxSnapshotBytes));
            _maxSnapshotBytes = value;
        }
    }
}
