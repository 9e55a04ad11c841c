using System.Collections.ObjectModel;
using System.Text;

namespace Cdc.Checkpoint.Streaming;

/// <summary>
/// A point-in-time snapshot of a streaming pipeline: per-source sequence numbers and watermarks, per-sink positions
/// and opaque operator state, stamped with an id, an epoch and a creation time.
/// </summary>
/// <remarks>
/// Immutable and thread-safe. Names are compared ordinally. Equality compares every field and map entry (map order is
/// irrelevant). The binary form is <see cref="StreamSnapshotCodec"/> (see <c>docs/snapshot-format.md</c>).
/// </remarks>
public sealed class StreamCheckpoint : IEquatable<StreamCheckpoint>
{
    private static readonly UTF8Encoding StrictUtf8 = new(encoderShouldEmitUTF8Identifier: false, throwOnInvalidBytes: true);

    private ReadOnlyDictionary<string, ulong>? _sourceSequences;
    private ReadOnlyDictionary<string, ulong>? _sinkPositions;
    private ReadOnlyDictionary<string, long>? _watermarks;
    private ReadOnlyDictionary<string, ReadOnlyMemory<byte>>? _operatorStates;
    private int _encodedLength;

    /// <summary>Creates a checkpoint, copying the given maps.</summary>
    /// <param name="id">The checkpoint id.</param>
    /// <param name="epoch">The epoch (barrier number) the checkpoint belongs to.</param>
    /// <param name="createdAtUnixMilliseconds">Creation time in milliseconds since 1970-01-01T00:00:00Z; within the range of <see cref="DateTimeOffset"/>.</param>
    /// <param name="sourceSequences">Source name → sequence number.</param>
    /// <param name="sinkPositions">Sink name → position.</param>
    /// <param name="watermarks">Source name → watermark.</param>
    /// <param name="operatorStates">Operator name → opaque state (copied).</param>
    /// <exception cref="ArgumentOutOfRangeException">The creation time is outside the range of <see cref="DateTimeOffset"/>.</exception>
    /// <exception cref="ArgumentException">A name is null, not well-formed UTF-16 (a lone surrogate), or repeated; or a state is null.</exception>
    public StreamCheckpoint(
        ulong id,
        ulong epoch,
        long createdAtUnixMilliseconds,
        IEnumerable<KeyValuePair<string, ulong>>? sourceSequences = null,
        IEnumerable<KeyValuePair<string, ulong>>? sinkPositions = null,
        IEnumerable<KeyValuePair<string, long>>? watermarks = null,
        IEnumerable<KeyValuePair<string, byte[]>>? operatorStates = null)
    {
        ValidateCreatedAt(createdAtUnixMilliseconds, nameof(createdAtUnixMilliseconds));
        Id = id;
        Epoch = epoch;
        CreatedAtUnixMilliseconds = createdAtUnixMilliseconds;

        // The UTF-8 length of every name is counted while validating it, which gives the encoded length for free.
        long nameBytes = 0;
        SourceSequenceEntries = Copy(sourceSequences, static v => v, nameof(sourceSequences), ref nameBytes);
        SinkPositionEntries = Copy(sinkPositions, static v => v, nameof(sinkPositions), ref nameBytes);
        WatermarkEntries = Copy(watermarks, static v => v, nameof(watermarks), ref nameBytes);
        OperatorStateEntries = Copy(
            operatorStates,
            static v => (ReadOnlyMemory<byte>)(v ?? throw new ArgumentException("An operator state is null; use an empty array for no state.", nameof(operatorStates))).ToArray(),
            nameof(operatorStates),
            ref nameBytes);
        long stateBytes = 0;
        foreach (var entry in OperatorStateEntries)
        {
            stateBytes += entry.Value.Length;
        }

        var entryBytes = (12L * (SourceSequenceEntries.Length + SinkPositionEntries.Length + WatermarkEntries.Length)) + (8L * OperatorStateEntries.Length);
        var length = StreamSnapshotCodec.MinimumLength + entryBytes + nameBytes + stateBytes;
        _encodedLength = length <= Array.MaxLength ? (int)length : 0; // 0: GetEncodedLength reports RecordTooLarge
    }

    // Used by the decoder and the manager, which have already validated the names (unique, well-formed); takes
    // ownership of the arrays and sorts them in place unless the caller knows they are sorted.
    private StreamCheckpoint(
        ulong id,
        ulong epoch,
        long createdAtUnixMilliseconds,
        KeyValuePair<string, ulong>[] sources,
        KeyValuePair<string, ulong>[] sinks,
        KeyValuePair<string, long>[] watermarks,
        KeyValuePair<string, ReadOnlyMemory<byte>>[] states,
        int encodedLength,
        bool sorted)
    {
        Id = id;
        Epoch = epoch;
        CreatedAtUnixMilliseconds = createdAtUnixMilliseconds;
        SourceSequenceEntries = sorted ? sources : Sorted(sources);
        SinkPositionEntries = sorted ? sinks : Sorted(sinks);
        WatermarkEntries = sorted ? watermarks : Sorted(watermarks);
        OperatorStateEntries = sorted ? states : Sorted(states);
        _encodedLength = encodedLength;
    }

    /// <summary>The checkpoint id; ids given by one manager only grow.</summary>
    public ulong Id { get; }

    /// <summary>The epoch (checkpoint barrier number); epochs given by one manager only grow.</summary>
    public ulong Epoch { get; }

    /// <summary>Creation time in milliseconds since the Unix epoch (UTC), as stored.</summary>
    public long CreatedAtUnixMilliseconds { get; }

    /// <summary>Creation time (UTC, millisecond precision).</summary>
    public DateTimeOffset CreatedAt => DateTimeOffset.FromUnixTimeMilliseconds(CreatedAtUnixMilliseconds);

    // The dictionaries are built on first use: decoding (recovery reads many snapshots) and encoding never need them.

    /// <summary>Source name → sequence number (events pushed by that source) at checkpoint time.</summary>
    public IReadOnlyDictionary<string, ulong> SourceSequences => Volatile.Read(ref _sourceSequences) ?? Publish(ref _sourceSequences, SourceSequenceEntries);

    /// <summary>Sink name → position at checkpoint time.</summary>
    public IReadOnlyDictionary<string, ulong> SinkPositions => Volatile.Read(ref _sinkPositions) ?? Publish(ref _sinkPositions, SinkPositionEntries);

    /// <summary>Source name → watermark at checkpoint time.</summary>
    public IReadOnlyDictionary<string, long> Watermarks => Volatile.Read(ref _watermarks) ?? Publish(ref _watermarks, WatermarkEntries);

    /// <summary>Operator name → opaque state bytes.</summary>
    public IReadOnlyDictionary<string, ReadOnlyMemory<byte>> OperatorStates => Volatile.Read(ref _operatorStates) ?? Publish(ref _operatorStates, OperatorStateEntries);

    // Entries sorted by name (ordinal), the order the encoder writes them in.
    internal KeyValuePair<string, ulong>[] SourceSequenceEntries { get; }

    internal KeyValuePair<string, ulong>[] SinkPositionEntries { get; }

    internal KeyValuePair<string, long>[] WatermarkEntries { get; }

    internal KeyValuePair<string, ReadOnlyMemory<byte>>[] OperatorStateEntries { get; }

    /// <summary>The length of the binary encoding (<see cref="StreamSnapshotCodec"/>), computed once.</summary>
    /// <exception cref="CheckpointException"><see cref="CheckpointErrorCode.RecordTooLarge"/> when it would exceed the largest array.</exception>
    internal int EncodedLength
    {
        get
        {
            // Racing threads compute the same value; an int store cannot tear.
            var length = Volatile.Read(ref _encodedLength);
            if (length == 0)
            {
                length = StreamSnapshotCodec.ComputeEncodedLength(this);
                Volatile.Write(ref _encodedLength, length);
            }

            return length;
        }
    }

    /// <summary>
    /// Takes ownership of already validated entries (the manager's capture, the decoder). They are sorted here unless
    /// <paramref name="sorted"/> says they already are; <paramref name="encodedLength"/> is the known length of the
    /// encoding, or 0 to compute it when first asked.
    /// </summary>
    internal static StreamCheckpoint FromOwned(
        ulong id,
        ulong epoch,
        long createdAtUnixMilliseconds,
        KeyValuePair<string, ulong>[] sources,
        KeyValuePair<string, ulong>[] sinks,
        KeyValuePair<string, long>[] watermarks,
        KeyValuePair<string, ReadOnlyMemory<byte>>[] states,
        int encodedLength = 0,
        bool sorted = false) =>
        new(id, epoch, createdAtUnixMilliseconds, sources, sinks, watermarks, states, encodedLength, sorted);

    /// <summary>Throws when <paramref name="name"/> cannot be a source, sink or operator name (null, empty, or not storable as UTF-8).</summary>
    internal static void ValidateName(string name, string paramName)
    {
        ArgumentException.ThrowIfNullOrEmpty(name, paramName);
        try
        {
            _ = StrictUtf8.GetByteCount(name);
        }
        catch (EncoderFallbackException ex)
        {
            throw new ArgumentException($"The name '{name}' is not well-formed UTF-16 (it has a lone surrogate) and cannot be stored as UTF-8.", paramName, ex);
        }
    }

    internal static bool IsValidCreatedAt(long unixMilliseconds) =>
        unixMilliseconds >= DateTimeOffset.MinValue.ToUnixTimeMilliseconds() &&
        unixMilliseconds <= DateTimeOffset.MaxValue.ToUnixTimeMilliseconds();

    private static void ValidateCreatedAt(long unixMilliseconds, string paramName)
    {
        if (!IsValidCreatedAt(unixMilliseconds))
        {
            throw new ArgumentOutOfRangeException(
                paramName,
                unixMilliseconds,
                $"The creation time must be between {DateTimeOffset.MinValue.ToUnixTimeMilliseconds()} and {DateTimeOffset.MaxValue.ToUnixTimeMilliseconds()} Unix milliseconds.");
        }
    }

    private static KeyValuePair<string, TOut>[] Copy<TIn, TOut>(IEnumerable<KeyValuePair<string, TIn>>? source, Func<TIn, TOut> convert, string paramName, ref long nameBytes)
    {
        if (source is null)
        {
            return [];
        }

        var seen = new HashSet<string>(StringComparer.Ordinal);
        var list = new List<KeyValuePair<string, TOut>>();
        foreach (var (name, value) in source)
        {
            if (name is null)
            {
                throw new ArgumentException("A name is null.", paramName);
            }

            try
            {
                nameBytes += StrictUtf8.GetByteCount(name);
            }
            catch (EncoderFallbackException ex)
            {
                throw new ArgumentException($"The name '{name}' is not well-formed UTF-16 (it has a lone surrogate) and cannot be stored as UTF-8.", paramName, ex);
            }

            if (!seen.Add(name))
            {
                throw new ArgumentException($"The name '{name}' appears more than once.", paramName);
            }

            list.Add(new(name, convert(value)));
        }

        return Sorted(list.ToArray());
    }

    private static KeyValuePair<string, T>[] Sorted<T>(KeyValuePair<string, T>[] entries)
    {
        if (IsAscending(entries))
        {
            return entries;
        }

        Array.Sort(entries, static (a, b) => string.CompareOrdinal(a.Key, b.Key));
        return entries;
    }

    // Every caller gets the same instance: the first dictionary published wins.
    private static ReadOnlyDictionary<string, T> Publish<T>(ref ReadOnlyDictionary<string, T>? field, KeyValuePair<string, T>[] entries)
    {
        var dictionary = new Dictionary<string, T>(entries.Length, StringComparer.Ordinal);
        foreach (var (key, value) in entries)
        {
            dictionary.Add(key, value);
        }

        return Interlocked.CompareExchange(ref field, new ReadOnlyDictionary<string, T>(dictionary), null) ?? field;
    }

    private static bool IsAscending<T>(KeyValuePair<string, T>[] entries)
    {
        for (var i = 1; i < entries.Length; i++)
        {
            if (string.CompareOrdinal(entries[i - 1].Key, entries[i].Key) > 0)
            {
                return false;
            }
        }

        return true;
    }

    /// <inheritdoc/>
    public bool Equals(StreamCheckpoint? other)
    {
        if (other is null)
        {
            return false;
        }

        if (ReferenceEquals(this, other))
        {
            return true;
        }

        return Id == other.Id && Epoch == other.Epoch && CreatedAtUnixMilliseconds == other.CreatedAtUnixMilliseconds &&
               EntriesEqual(SourceSequenceEntries, other.SourceSequenceEntries) &&
               EntriesEqual(SinkPositionEntries, other.SinkPositionEntries) &&
               EntriesEqual(WatermarkEntries, other.WatermarkEntries) &&
               StatesEqual(OperatorStateEntries, other.OperatorStateEntries);
    }

    private static bool EntriesEqual<T>(KeyValuePair<string, T>[] a, KeyValuePair<string, T>[] b)
        where T : IEquatable<T>
    {
        if (a.Length != b.Length)
        {
            return false;
        }

        for (var i = 0; i < a.Length; i++)
        {
            if (!string.Equals(a[i].Key, b[i].Key, StringComparison.Ordinal) || !a[i].Value.Equals(b[i].Value))
            {
                return false;
            }
        }

        return true;
    }

    private static bool StatesEqual(KeyValuePair<string, ReadOnlyMemory<byte>>[] a, KeyValuePair<string, ReadOnlyMemory<byte>>[] b)
    {
        if (a.Length != b.Length)
        {
            return false;
        }

        for (var i = 0; i < a.Length; i++)
        {
            if (!string.Equals(a[i].Key, b[i].Key, StringComparison.Ordinal) || !a[i].Value.Span.SequenceEqual(b[i].Value.Span))
            {
                return false;
            }
        }

        return true;
    }

    /// <inheritdoc/>
    public override bool Equals(object? obj) => Equals(obj as StreamCheckpoint);

    /// <inheritdoc/>
    public override int GetHashCode() => HashCode.Combine(
        Id, Epoch, CreatedAtUnixMilliseconds, SourceSequenceEntries.Length, SinkPositionEntries.Length, WatermarkEntries.Length, OperatorStateEntries.Length);

    /// <inheritdoc/>
    public override string ToString() =>
        $"StreamCheckpoint {{ Id = {Id}, Epoch = {Epoch}, CreatedAt = {CreatedAt:O}, Sources = {SourceSequenceEntries.Length}, Sinks = {SinkPositionEntries.Length}, Watermarks = {WatermarkEntries.Length}, OperatorStates = {OperatorStateEntries.Length} }}";
}
