using Cdc.Checkpoint.Internal;
using Cdc.Checkpoint.Leasing;
using Cdc.Checkpoint.Offsets;

namespace Cdc.Checkpoint.Files;

/// <summary>
/// What the owner of a <see cref="FileCheckpoint"/> directory knows about its record files: the records last read or
/// written, the highest write sequence, the codecs that read them, and the buffers a save serialises into. One
/// instance per directory and process (the lease's <see cref="OwnerLease.SharedState"/>), used under the lease's write
/// gate, so every <see cref="FileCheckpoint"/> of the process on the directory sees the same state.
/// </summary>
internal sealed class RecordDirectoryState(OffsetCodecRegistry codecs)
{
    private readonly Dictionary<string, (string FileName, string Path)> _paths = new(StringComparer.Ordinal);

    public OffsetCodecRegistry Codecs { get; private set; } = codecs;

    public Dictionary<string, CheckpointRecord> Records { get; private set; } = new(StringComparer.Ordinal);

    public ulong MaxSequence { get; private set; }

    /// <summary>The records were read since the last change nobody but this owner could have made; a save may use them without a rescan.</summary>
    public bool Loaded { get; private set; }

    /// <summary>The buffers saves serialise into (used under the lease's write gate).</summary>
    public CheckpointRecordFile.RecordWriter Writer { get; } = new();

    /// <summary>The record file name and path of a source type, built once per directory instead of per save.</summary>
    public (string FileName, string Path) RecordPaths(string directory, string sourceType)
    {
        if (!_paths.TryGetValue(sourceType, out var paths))
        {
            var fileName = CheckpointRecordFile.FileNameFor(sourceType);
            paths = (fileName, System.IO.Path.Combine(directory, fileName));
            _paths[sourceType] = paths;
        }

        return paths;
    }

    /// <summary>Reads records with <paramref name="codec"/> from now on; records it may read differently are read again.</summary>
    public void Learn(IOffsetCodec codec)
    {
        if (codec is not GenericOffsetCodec && !Codecs.Codecs.Contains(codec))
        {
            Codecs = Codecs.With(codec);
            Loaded = false; // re-read records that may have loaded as generic offsets
        }
    }

    /// <summary>Forgets what was read: the next load rescans the directory (after a write whose outcome is unknown, a reset, an upgrade).</summary>
    public void Invalidate() => Loaded = false;

    /// <summary>Takes a record this owner has just made durable.</summary>
    public void Wrote(CheckpointRecord record)
    {
        Records[record.SourceType] = record;
        MaxSequence = record.Sequence;
    }

    /// <summary>
    /// Reads every record of the directory (when not loaded yet, or when <paramref name="forceRescan"/>), refusing a
    /// record file that changed behind this owner's back, one that disappeared, and a directory of several source
    /// families.
    /// </summary>
    /// <exception cref="CheckpointException">A record cannot be trusted, or the directory mixes source families.</exception>
    public void Load(OwnerLease lease, OwnedDirectory directory, FileCheckpointOptions options, bool forceRescan)
    {
        foreach (var codec in options.Codecs.Codecs)
        {
            Learn(codec);
        }

        if (Loaded && !forceRescan)
        {
            return;
        }

        var records = new Dictionary<string, CheckpointRecord>(StringComparer.Ordinal);
        var read = new Dictionary<string, FileStatus>(StringComparer.Ordinal);

        // Every entry with a record's name, whatever it is: a directory or a link there is refused, never skipped.
        foreach (var path in SafeFile.ListEntries(directory.Path, CheckpointRecordFile.Prefix + "*" + CheckpointRecordFile.Suffix))
        {
            var sourceType = CheckpointRecordFile.SourceTypeOf(System.IO.Path.GetFileName(path));
            if (sourceType is null)
            {
                continue;
            }

            var bytes = SafeFile.ReadAll(path, options.MaxRecordBytes, SafeFile.Rules.All, out var status);
            if (bytes is null)
            {
                continue;
            }

            directory.RefuseIfChanged(lease, path, status, expectedToExist: true, RecordWhat);
            records[sourceType] = CheckpointRecordFile.Parse(bytes, path, Codecs);
            read[path] = status;
        }

        foreach (var remembered in lease.RememberedPaths())
        {
            if (!read.ContainsKey(remembered))
            {
                directory.RefuseIfChanged(lease, remembered, null, expectedToExist: true, RecordWhat);
            }
        }

        foreach (var (path, status) in read)
        {
            lease.Remember(path, status);
        }

        var families = records.Values.Select(r => SourceTypeName.FamilyOf(r.SourceType)).Distinct(StringComparer.Ordinal).Order(StringComparer.Ordinal).ToList();
        if (families.Count > 1)
        {
            throw new CheckpointException(
                CheckpointErrorCode.MixedSourceFamilies,
                $"Checkpoint directory '{directory.Path}' holds records of several source families ({string.Join(", ", families)}). Use one directory per source family; move the records that belong to another consumer into its own directory.")
            { Path = directory.Path };
        }

        Records = records;
        MaxSequence = records.Count == 0 ? 0 : records.Values.Max(r => r.Sequence);
        Loaded = true;
    }

    /// <summary>How a record file is named in a <see cref="CheckpointErrorCode.ModifiedExternally"/> refusal.</summary>
    public const string RecordWhat = "Checkpoint record";

    /// <summary>
    /// The latest of <paramref name="records"/>: the highest write sequence (records of the rustcdc v1 format have none;
    /// among them a stream record is later than its snapshot record, then the higher event count wins). File times are never used.
    /// </summary>
    public static CheckpointRecord? Latest(IEnumerable<CheckpointRecord> records) => records.OrderBy(r => r, LatestOrder.Instance).LastOrDefault();

    /// <summary>Records from oldest to latest, as <see cref="Latest"/> orders them.</summary>
    public static IOrderedEnumerable<CheckpointRecord> OldestFirst(IEnumerable<CheckpointRecord> records) => records.OrderBy(r => r, LatestOrder.Instance);

    /// <summary>Orders records from oldest to latest without file times.</summary>
    private sealed class LatestOrder : IComparer<CheckpointRecord>
    {
        public static readonly LatestOrder Instance = new();

        public int Compare(CheckpointRecord? x, CheckpointRecord? y)
        {
            ArgumentNullException.ThrowIfNull(x);
            ArgumentNullException.ThrowIfNull(y);
            var bySequence = x.Sequence.CompareTo(y.Sequence);
            if (bySequence != 0)
            {
                return bySequence;
            }

            // Without sequences (v1), the snapshot phase of a family precedes its stream phase.
            var xSnapshot = x.SourceType.EndsWith(SourceTypeName.SnapshotSuffix, StringComparison.Ordinal);
            var ySnapshot = y.SourceType.EndsWith(SourceTypeName.SnapshotSuffix, StringComparison.Ordinal);
            if (xSnapshot != ySnapshot)
            {
                return xSnapshot ? -1 : 1;
            }

            var byCount = x.CommittedEventCount.CompareTo(y.CommittedEventCount);
            return byCount != 0 ? byCount : string.CompareOrdinal(x.SourceType, y.SourceType);
        }
    }
}
