using System.Text.Json;
using Cdc.Checkpoint.Offsets;

namespace Cdc.Checkpoint.Cursors;

/// <summary>
/// A pull cursor's durable position as a typed offset, so every <see cref="ICheckpointStore"/> (file checkpoint,
/// table stores, manifest store, in-memory) can hold it: source type <c>cursor</c>, JSON
/// <c>{"consumer_identity":"orders-projector","started":true,"position":42}</c>.
/// </summary>
/// <remarks>
/// <para>
/// Progress order: "not started" &lt; position 0 &lt; position 1 &lt; …; a cursor offset of another consumer identity
/// is <see cref="OffsetOrder.Diverged"/>, so a store refuses to overwrite one consumer's position with another's. The
/// committed event count a cursor saves with (<see cref="CommittedCount"/>) is the number of positions passed.
/// </para>
/// <para>
/// Every store reads the <c>cursor</c> source type with <see cref="OffsetCodec"/> without registration
/// (<see cref="OffsetCodecRegistry"/> knows it). Use <see cref="CursorCheckpointStoreExtensions"/> rather than this type
/// directly: it checks the identity on load and refuses anything that is not a cursor position.
/// </para>
/// <para>Immutable and thread-safe.</para>
/// </remarks>
public sealed class CursorOffset : CheckpointOffset, ITypedOffset<CursorOffset>
{
    /// <summary>The source type of cursor offsets; one cursor per store (directory, table row name or manifest store).</summary>
    public const string CursorSourceType = "cursor";

    /// <summary>Creates the offset of <paramref name="checkpoint"/>.</summary>
    /// <param name="checkpoint">The cursor's position and identity.</param>
    /// <exception cref="ArgumentNullException"><paramref name="checkpoint"/> is <see langword="null"/>.</exception>
    public CursorOffset(CursorCheckpoint checkpoint)
        : base(CursorSourceType)
    {
        ArgumentNullException.ThrowIfNull(checkpoint);
        Checkpoint = checkpoint;
    }

    /// <summary>The cursor position and identity.</summary>
    public CursorCheckpoint Checkpoint { get; }

    /// <summary>The codec of the <c>cursor</c> source type.</summary>
    public static IOffsetCodec OffsetCodec => CursorOffsetCodec.Instance;

    /// <inheritdoc />
    public override IOffsetCodec Codec => CursorOffsetCodec.Instance;

    /// <summary>
    /// The committed event count the cursor's saves use: the number of positions passed (0 before the first delivery,
    /// position + 1 after), so it grows exactly when the position does.
    /// </summary>
    public ulong CommittedCount => Checkpoint.NextPosition ?? ulong.MaxValue;

    /// <inheritdoc />
    public override OffsetOrder CompareTo(CheckpointOffset other)
    {
        ArgumentNullException.ThrowIfNull(other);
        if (other is not CursorOffset cursor || !string.Equals(cursor.Checkpoint.ConsumerIdentity, Checkpoint.ConsumerIdentity, StringComparison.Ordinal))
        {
            return OffsetOrder.Diverged;
        }

        return Checkpoint.CompareProgress(cursor.Checkpoint) switch
        {
            < 0 => OffsetOrder.Before,
            0 => OffsetOrder.Same,
            _ => OffsetOrder.After,
        };
    }

    /// <inheritdoc />
    public override void WriteJson(Utf8JsonWriter writer)
    {
        ArgumentNullException.ThrowIfNull(writer);
        writer.WriteStartObject();
        writer.WriteString(CursorOffsetCodec.IdentityMember, Checkpoint.ConsumerIdentity);
        writer.WriteBoolean(CursorOffsetCodec.StartedMember, Checkpoint.Started);
        writer.WriteNumber(CursorOffsetCodec.PositionMember, Checkpoint.Position);
        writer.WriteEndObject();
    }

    /// <inheritdoc />
    public override string ToString() => Checkpoint.ToString();
}

/// <summary>Reads <see cref="CursorOffset"/> values (source type <c>cursor</c>) strictly: exactly the three members, nothing else.</summary>
internal sealed class CursorOffsetCodec : IOffsetCodec
{
    public const string IdentityMember = "consumer_identity";
    public const string StartedMember = "started";
    public const string PositionMember = "position";

    private CursorOffsetCodec()
    {
    }

    public static CursorOffsetCodec Instance { get; } = new();

    public bool CanRead(string sourceType) => string.Equals(sourceType, CursorOffset.CursorSourceType, StringComparison.Ordinal);

    public CheckpointOffset Read(string sourceType, JsonElement offset, int formatVersion)
    {
        if (!CanRead(sourceType))
        {
            throw new ArgumentException($"Source type '{sourceType}' is not '{CursorOffset.CursorSourceType}'.", nameof(sourceType));
        }

        if (offset.ValueKind != JsonValueKind.Object)
        {
            throw Bad(offset, "it is not a JSON object");
        }

        if (OffsetJsonText.FindUndecodable(offset) is { } where)
        {
            throw Bad(offset, $"{where} {OffsetJsonText.NotUnicode}");
        }

        string? identity = null;
        bool? started = null;
        ulong? position = null;
        foreach (var member in offset.EnumerateObject())
        {
            switch (member.Name)
            {
                case IdentityMember when identity is null && member.Value.ValueKind == JsonValueKind.String:
                    identity = member.Value.GetString();
                    break;
                case StartedMember when started is null && member.Value.ValueKind is JsonValueKind.True or JsonValueKind.False:
                    started = member.Value.GetBoolean();
                    break;
                case PositionMember when position is null && member.Value.ValueKind == JsonValueKind.Number && member.Value.TryGetUInt64(out var value):
                    position = value;
                    break;
                default:
                    throw Bad(offset, $"member '{member.Name}' is unknown, repeated or of the wrong type ({IdentityMember}: string, {StartedMember}: boolean, {PositionMember}: unsigned 64-bit integer)");
            }
        }

        if (identity is null || started is null || position is null)
        {
            throw Bad(offset, $"it needs '{IdentityMember}', '{StartedMember}' and '{PositionMember}'");
        }

        if (started == false && position != 0)
        {
            throw Bad(offset, $"it says the cursor has not started but has position {position}");
        }

        try
        {
            return new CursorOffset(started.Value ? CursorCheckpoint.At(position.Value, identity) : CursorCheckpoint.NotStarted(identity));
        }
        catch (ArgumentException ex)
        {
            throw Bad(offset, ex.Message);
        }
    }

    private static FormatException Bad(JsonElement offset, string problem) =>
        new($"Cursor offset {OffsetJsonText.QuoteRaw(offset)} is not valid: {problem}");
}
