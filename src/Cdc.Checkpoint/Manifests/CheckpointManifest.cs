using System.Collections.Immutable;

namespace Cdc.Checkpoint.Manifests;

/// <summary>
/// One consistent checkpoint of a pipeline with many sources and sinks: the typed offset of every source, the epoch
/// and commit status of every sink, table positions, operator state and a watermark, written together as
/// <c>manifest.json</c> (format in docs/manifest-format.md).
/// </summary>
/// <remarks>
/// Immutable and thread-safe. Maps are ordinal-sorted so the same manifest always serializes to the same bytes.
/// Manifests are compared by <see cref="CheckpointId"/> in practice; this class does not override equality.
/// </remarks>
public sealed class CheckpointManifest
{
    /// <summary>The format version this library writes.</summary>
    public const int CurrentFormatVersion = 1;

    private static readonly ImmutableArray<int> Supported = [1];

    private readonly ImmutableSortedDictionary<string, SourcePosition> _sourceOffsets = Empty<SourcePosition>();
    private readonly ImmutableSortedDictionary<string, ulong> _sinkEpochs = Empty<ulong>();
    private readonly ImmutableSortedDictionary<string, SinkCommitStatus> _sinkCommitStatuses = Empty<SinkCommitStatus>();
    private readonly ImmutableSortedDictionary<string, TableOffset> _tableOffsets = Empty<TableOffset>();
    private readonly ImmutableSortedDictionary<string, OperatorState> _operatorStates = Empty<OperatorState>();

    /// <summary>The format versions this library reads.</summary>
    public static ImmutableArray<int> SupportedFormatVersions => Supported;

    /// <summary>The format version the manifest was read from (<see cref="CurrentFormatVersion"/> for new manifests).</summary>
    public int FormatVersion { get; init; } = CurrentFormatVersion;

    /// <summary>The checkpoint id, at least 1; also names the checkpoint directory (<c>checkpoint_000042</c>).</summary>
    public required ulong CheckpointId { get; init; }

    /// <summary>The checkpoint epoch, at least 1; grows with every checkpoint a coordinator writes.</summary>
    public required ulong Epoch { get; init; }

    /// <summary>When the checkpoint was taken (UTC).</summary>
    public required DateTimeOffset CreatedAt { get; init; }

    /// <summary>Typed offsets by source name.</summary>
    public ImmutableSortedDictionary<string, SourcePosition> SourceOffsets
    {
        get => _sourceOffsets;
        init => _sourceOffsets = Normalize(value);
    }

    /// <summary>The epoch each sink is at, by sink name.</summary>
    public ImmutableSortedDictionary<string, ulong> SinkEpochs
    {
        get => _sinkEpochs;
        init => _sinkEpochs = Normalize(value);
    }

    /// <summary>The commit status of each sink, by sink name.</summary>
    public ImmutableSortedDictionary<string, SinkCommitStatus> SinkCommitStatuses
    {
        get => _sinkCommitStatuses;
        init => _sinkCommitStatuses = Normalize(value);
    }

    /// <summary>Table positions by table name.</summary>
    public ImmutableSortedDictionary<string, TableOffset> TableOffsets
    {
        get => _tableOffsets;
        init => _tableOffsets = Normalize(value);
    }

    /// <summary>Operator state by operator name, inline or in the sidecar.</summary>
    public ImmutableSortedDictionary<string, OperatorState> OperatorStates
    {
        get => _operatorStates;
        init => _operatorStates = Normalize(value);
    }

    /// <summary>The operator-state sidecar, or <see langword="null"/> when all state is inline. Set by the store on save.</summary>
    public StateSidecarInfo? StateSidecar { get; init; }

    /// <summary>The event-time watermark, if the pipeline tracks one.</summary>
    public long? Watermark { get; init; }

    /// <summary>A copy of this manifest with other sink commit statuses.</summary>
    /// <exception cref="ArgumentNullException"><paramref name="statuses"/> is <see langword="null"/>.</exception>
    public CheckpointManifest WithSinkCommitStatuses(ImmutableSortedDictionary<string, SinkCommitStatus> statuses)
    {
        ArgumentNullException.ThrowIfNull(statuses);
        return Copy(statuses, StateSidecar);
    }

    /// <summary>A copy of this manifest with another sidecar description.</summary>
    public CheckpointManifest WithStateSidecar(StateSidecarInfo? sidecar) => Copy(SinkCommitStatuses, sidecar);

    private CheckpointManifest Copy(ImmutableSortedDictionary<string, SinkCommitStatus> statuses, StateSidecarInfo? sidecar) => new()
    {
        FormatVersion = FormatVersion,
        CheckpointId = CheckpointId,
        Epoch = Epoch,
        CreatedAt = CreatedAt,
        SourceOffsets = SourceOffsets,
        SinkEpochs = SinkEpochs,
        SinkCommitStatuses = statuses,
        TableOffsets = TableOffsets,
        OperatorStates = OperatorStates,
        StateSidecar = sidecar,
        Watermark = Watermark,
    };

    /// <summary>
    /// The problems that make this manifest unfit to be written or trusted (empty when it is fine): ids, names,
    /// failure messages, and operator-state ranges that must lie inside the sidecar.
    /// </summary>
    internal List<string> FindProblems()
    {
        var problems = new List<string>();
        if (CheckpointId == 0)
        {
            problems.Add("checkpoint_id is 0; ids start at 1");
        }

        if (Epoch == 0)
        {
            problems.Add("epoch is 0; epochs start at 1");
        }

        CheckNames(SourceOffsets.Keys, "source", problems);
        CheckNames(SinkEpochs.Keys, "sink", problems);
        CheckNames(SinkCommitStatuses.Keys, "sink", problems);
        CheckNames(TableOffsets.Keys, "table", problems);
        CheckNames(OperatorStates.Keys, "operator", problems);
        foreach (var (sink, status) in SinkCommitStatuses)
        {
            if (status is null || !Enum.IsDefined(status.State))
            {
                problems.Add($"sink '{sink}' has no valid commit status");
            }
            else if (status.FailureMessage is { Length: > ManifestNames.MaxTextLength })
            {
                problems.Add($"sink '{sink}' has a failure message longer than {ManifestNames.MaxTextLength} characters");
            }
        }

        foreach (var (source, position) in SourceOffsets)
        {
            if (position?.Offset is null)
            {
                problems.Add($"source '{source}' has no offset");
            }
        }

        foreach (var (table, offset) in TableOffsets)
        {
            if (offset is null)
            {
                problems.Add($"table '{table}' has no position");
            }
        }

        if (StateSidecar is { } sidecar)
        {
            if (!StateSidecarInfo.IsValidDigest(sidecar.Sha256))
            {
                problems.Add($"state_sidecar.sha256 '{sidecar.Sha256}' is not 64 lower-case hex digits");
            }

            if (sidecar.SizeBytes < 0)
            {
                problems.Add($"state_sidecar.size_bytes {sidecar.SizeBytes} is negative");
            }
        }

        foreach (var (name, state) in OperatorStates)
        {
            if (state is null)
            {
                problems.Add($"operator '{name}' has no state");
            }
            else if (state.IsInSidecar)
            {
                if (StateSidecar is null)
                {
                    problems.Add($"operator '{name}' keeps its state in the sidecar but the manifest declares no state_sidecar");
                }
                else if (state.SidecarOffset > StateSidecar.SizeBytes || state.SidecarLength > StateSidecar.SizeBytes - state.SidecarOffset)
                {
                    problems.Add($"operator '{name}' state range {state.SidecarOffset}+{state.SidecarLength} lies outside the {StateSidecar.SizeBytes}-byte sidecar");
                }
            }
        }

        return problems;
    }

    private static void CheckNames(IEnumerable<string> names, string kind, List<string> problems)
    {
        foreach (var name in names)
        {
            if (!ManifestNames.IsValid(name))
            {
                problems.Add($"{kind} name '{name}' is empty, longer than {ManifestNames.MaxLength} characters or holds control characters");
            }
        }
    }

    private static ImmutableSortedDictionary<string, T> Empty<T>() => ImmutableSortedDictionary.Create<string, T>(StringComparer.Ordinal);

    private static ImmutableSortedDictionary<string, T> Normalize<T>(ImmutableSortedDictionary<string, T>? value)
    {
        ArgumentNullException.ThrowIfNull(value);
        return ReferenceEquals(value.KeyComparer, StringComparer.Ordinal) ? value : value.WithComparers(StringComparer.Ordinal);
    }
}
