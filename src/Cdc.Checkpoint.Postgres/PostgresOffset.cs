using System.Globalization;
using System.Text;
using System.Text.Json;
using Cdc.Checkpoint.Offsets;
using NpgsqlTypes;

namespace Cdc.Checkpoint.Postgres;

/// <summary>
/// A position in a PostgreSQL logical replication stream: the LSN a consumer has durably processed on a replication
/// slot, optionally pinned to the cluster (system identifier), its timeline and the database the slot belongs to.
/// </summary>
/// <remarks>
/// <para>
/// The LSN is Npgsql's <see cref="NpgsqlLogSequenceNumber"/>; its text form is PostgreSQL's <c>X/Y</c> (two groups of
/// 1–8 hexadecimal digits, upper case when written). The JSON shape is
/// <c>{"lsn":"0/16B3748","slot_name":"my_slot","system_identifier":"7299…","timeline":1,"database":"app"}</c>, with
/// the optional members omitted when unknown; the system identifier is a string because a 64-bit integer does not
/// survive JavaScript numbers.
/// </para>
/// <para>
/// Progress order (<see cref="CompareTo"/>): offsets of another source type or slot are
/// <see cref="OffsetOrder.Diverged"/>; so are offsets whose system identifiers, timelines or databases are both known
/// and differ. Otherwise the LSN decides. A member known on one side only does not make offsets diverge, so records
/// without it (rustcdc v1 records have only the LSN and the slot) still compare.
/// </para>
/// <para>
/// A different timeline is always <see cref="OffsetOrder.Diverged"/>, even when the LSNs look ordered: after a
/// promotion the new timeline shares WAL with the old one only up to the fork point, and an LSN past that point on the
/// old timeline names a change the new history may never contain. Ordering them by LSN would let a resume silently
/// skip or replay the wrong changes; deciding whether such a checkpoint is still valid needs the server's timeline
/// history (see the resume validation), not the offset alone.
/// </para>
/// <para>Instances are immutable and thread-safe.</para>
/// </remarks>
public sealed class PostgresOffset : CheckpointOffset, ITypedOffset<PostgresOffset>
{
    /// <summary>The source type of a streaming PostgreSQL offset: <c>postgres</c>.</summary>
    public const string StreamingSourceType = "postgres";

    /// <summary>The source type of an offset recorded during an initial snapshot: <c>postgres_snapshot</c>.</summary>
    public const string SnapshotSourceType = "postgres_snapshot";

    /// <summary>The longest replication slot name PostgreSQL accepts (NAMEDATALEN - 1).</summary>
    public const int MaxSlotNameLength = 63;

    /// <summary>The longest database name PostgreSQL accepts, in UTF-8 bytes (NAMEDATALEN - 1).</summary>
    public const int MaxDatabaseNameBytes = 63;

    private const int MaxLsnGroupDigits = 8;

    /// <summary>Creates a PostgreSQL offset.</summary>
    /// <param name="lsn">The log sequence number processed durably.</param>
    /// <param name="slotName">The replication slot: 1–63 characters of <c>[a-z0-9_]</c>, as PostgreSQL requires.</param>
    /// <param name="systemIdentifier">The cluster's system identifier (<c>IDENTIFY_SYSTEM</c>), or <see langword="null"/> when unknown.</param>
    /// <param name="timeline">The timeline the LSN belongs to (1 or more), or <see langword="null"/> when unknown.</param>
    /// <param name="database">The database the slot belongs to, or <see langword="null"/> when unknown.</param>
    /// <param name="sourceType">
    /// <see cref="StreamingSourceType"/> (the default) or <see cref="SnapshotSourceType"/>: a source type of the
    /// <c>postgres</c> family.
    /// </param>
    /// <exception cref="ArgumentNullException"><paramref name="slotName"/> or <paramref name="sourceType"/> is null.</exception>
    /// <exception cref="ArgumentException">
    /// The slot name, database name or source type is not valid; the message quotes it and states the rule.
    /// </exception>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="systemIdentifier"/> or <paramref name="timeline"/> is 0.</exception>
    public PostgresOffset(
        NpgsqlLogSequenceNumber lsn,
        string slotName,
        ulong? systemIdentifier = null,
        uint? timeline = null,
        string? database = null,
        string sourceType = StreamingSourceType)
        : this(lsn, slotName, systemIdentifier, timeline, database, sourceType, storedSlotName: false)
    {
    }

    // storedSlotName: the offset is read back from a record, where rustcdc (format version 1) stored slot names it never
    // checked, such as its own test name "slot-a". Such a record stays readable and migratable as it is; the name is
    // reported (HasValidSlotName, cdc-checkpoint inspect/verify) and resume validation refuses it.
    private PostgresOffset(
        NpgsqlLogSequenceNumber lsn,
        string slotName,
        ulong? systemIdentifier,
        uint? timeline,
        string? database,
        string sourceType,
        bool storedSlotName)
        : base(ValidateSourceType(sourceType))
    {
        ArgumentNullException.ThrowIfNull(slotName);
        if (storedSlotName ? slotName.Length == 0 : !IsValidSlotName(slotName))
        {
            throw new ArgumentException(
                $"Invalid replication slot name {OffsetJsonText.Quote(slotName)}: PostgreSQL slot names are 1-{MaxSlotNameLength} characters of lower-case letters, digits and '_'.",
                nameof(slotName));
        }

        if (systemIdentifier == 0)
        {
            throw new ArgumentOutOfRangeException(nameof(systemIdentifier), systemIdentifier, "A PostgreSQL system identifier is never 0; pass null when it is unknown.");
        }

        if (timeline == 0)
        {
            throw new ArgumentOutOfRangeException(nameof(timeline), timeline, "PostgreSQL timelines start at 1; pass null when the timeline is unknown.");
        }

        if (database is not null && !IsValidDatabaseName(database))
        {
            throw new ArgumentException(
                $"Invalid database name {OffsetJsonText.Quote(database)}: use 1-{MaxDatabaseNameBytes} UTF-8 bytes without NUL, or null when unknown.",
                nameof(database));
        }

        Lsn = lsn;
        SlotName = slotName;
        SystemIdentifier = systemIdentifier;
        Timeline = timeline;
        Database = database;
    }

    /// <summary>The codec that reads PostgreSQL offsets (both source types of the family, and rustcdc v1 records).</summary>
    public static IOffsetCodec OffsetCodec => PostgresOffsetCodec.Instance;

    /// <summary>The log sequence number processed durably.</summary>
    public NpgsqlLogSequenceNumber Lsn { get; }

    /// <summary>The replication slot the offset belongs to.</summary>
    public string SlotName { get; }

    /// <summary>The cluster's system identifier, or <see langword="null"/> when unknown.</summary>
    public ulong? SystemIdentifier { get; }

    /// <summary>The timeline of <see cref="Lsn"/>, or <see langword="null"/> when unknown.</summary>
    public uint? Timeline { get; }

    /// <summary>The database the slot belongs to, or <see langword="null"/> when unknown.</summary>
    public string? Database { get; }

    /// <inheritdoc />
    public override IOffsetCodec Codec => PostgresOffsetCodec.Instance;

    /// <summary>Parses PostgreSQL's text form of an LSN, <c>X/Y</c>: two groups of 1–8 hexadecimal digits (either case).</summary>
    /// <param name="text">The text, such as <c>0/16B3748</c>. No whitespace, sign or prefix is allowed, as in PostgreSQL.</param>
    /// <returns>The LSN.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="text"/> is null.</exception>
    /// <exception cref="FormatException"><paramref name="text"/> is not an LSN; the message quotes it.</exception>
    public static NpgsqlLogSequenceNumber ParseLsn(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        return TryParseLsn(text, out var lsn)
            ? lsn
            : throw new FormatException(
                $"{OffsetJsonText.Quote(text)} is not a PostgreSQL LSN: expected two groups of 1-{MaxLsnGroupDigits} hexadecimal digits separated by '/', such as '0/16B3748'.");
    }

    /// <summary>Tries to parse PostgreSQL's text form of an LSN, <c>X/Y</c>, with the rules of <see cref="ParseLsn"/>.</summary>
    /// <param name="text">The text.</param>
    /// <param name="lsn">The LSN, or <see cref="NpgsqlLogSequenceNumber.Invalid"/> when the text is not one.</param>
    /// <returns><see langword="true"/> when <paramref name="text"/> is an LSN.</returns>
    public static bool TryParseLsn(ReadOnlySpan<char> text, out NpgsqlLogSequenceNumber lsn)
    {
        // The same grammar as PostgreSQL's pg_lsn input: 1-8 hex digits, '/', 1-8 hex digits, nothing else. Npgsql's
        // own TryParse is laxer (it accepts more than 8 digits with leading zeros), so it is not used here.
        lsn = NpgsqlLogSequenceNumber.Invalid;
        var slash = text.IndexOf('/');
        if (slash < 0
            || !TryParseGroup(text[..slash], out var high)
            || !TryParseGroup(text[(slash + 1)..], out var low))
        {
            return false;
        }

        lsn = new NpgsqlLogSequenceNumber(((ulong)high << 32) | low);
        return true;

        static bool TryParseGroup(ReadOnlySpan<char> group, out uint value)
        {
            value = 0;
            if (group.IsEmpty || group.Length > MaxLsnGroupDigits)
            {
                return false;
            }

            foreach (var c in group)
            {
                int digit = c switch
                {
                    >= '0' and <= '9' => c - '0',
                    >= 'a' and <= 'f' => c - 'a' + 10,
                    >= 'A' and <= 'F' => c - 'A' + 10,
                    _ => -1,
                };
                if (digit < 0)
                {
                    return false;
                }

                value = (value << 4) | (uint)digit;
            }

            return true;
        }
    }

    /// <summary>Formats an LSN as PostgreSQL does: <c>X/Y</c> in upper-case hexadecimal without leading zeros.</summary>
    /// <param name="lsn">The LSN.</param>
    /// <returns>The text form, such as <c>0/16B3748</c>.</returns>
    public static string FormatLsn(NpgsqlLogSequenceNumber lsn)
    {
        var value = (ulong)lsn;
        return string.Create(CultureInfo.InvariantCulture, $"{(uint)(value >> 32):X}/{(uint)value:X}");
    }

    /// <summary>Whether <paramref name="slotName"/> is a name PostgreSQL accepts for a replication slot.</summary>
    /// <param name="slotName">The candidate.</param>
    /// <returns><see langword="true"/> for 1–63 characters of <c>[a-z0-9_]</c>.</returns>
    /// <remarks>
    /// PostgreSQL truncates a longer name to 63 bytes without an error (and folds an unquoted name to lower case in a
    /// replication command), so such a name is never the real name of the slot it creates; it is refused here.
    /// </remarks>
    public static bool IsValidSlotName(string? slotName)
    {
        if (string.IsNullOrEmpty(slotName) || slotName.Length > MaxSlotNameLength)
        {
            return false;
        }

        foreach (var c in slotName)
        {
            if (c is not ((>= 'a' and <= 'z') or (>= '0' and <= '9') or '_'))
            {
                return false;
            }
        }

        return true;
    }

    /// <summary>The same offset at another LSN (same slot, server, timeline, database and source type).</summary>
    /// <param name="lsn">The new LSN.</param>
    /// <returns>The new offset.</returns>
    public PostgresOffset WithLsn(NpgsqlLogSequenceNumber lsn) =>
        new(lsn, SlotName, SystemIdentifier, Timeline, Database, SourceType, storedSlotName: !HasValidSlotName);

    /// <summary>
    /// Whether <see cref="SlotName"/> is a name PostgreSQL accepts (<see cref="IsValidSlotName"/>). Always
    /// <see langword="true"/> for offsets created in code; <see langword="false"/> only for an offset read from a legacy
    /// record (rustcdc did not check slot names, and its own tests used <c>slot-a</c>): such a record stays readable and
    /// migratable, and resume validation refuses it with the reason.
    /// </summary>
    public bool HasValidSlotName => IsValidSlotName(SlotName);

    /// <summary>An offset read back from a stored record, whose slot name is kept as written even when PostgreSQL would refuse it.</summary>
    internal static PostgresOffset FromStored(NpgsqlLogSequenceNumber lsn, string slotName, ulong? systemIdentifier, uint? timeline, string? database, string sourceType) =>
        new(lsn, slotName, systemIdentifier, timeline, database, sourceType, storedSlotName: true);

    /// <inheritdoc />
    /// <remarks>See the type's remarks for the rules; a different timeline is always <see cref="OffsetOrder.Diverged"/>.</remarks>
    public override OffsetOrder CompareTo(CheckpointOffset other)
    {
        ArgumentNullException.ThrowIfNull(other);
        if (other is not PostgresOffset that
            || !string.Equals(SourceType, that.SourceType, StringComparison.Ordinal)
            || !string.Equals(SlotName, that.SlotName, StringComparison.Ordinal)
            || BothKnownAndDiffer(SystemIdentifier, that.SystemIdentifier)
            || BothKnownAndDiffer(Timeline, that.Timeline)
            || (Database is not null && that.Database is not null && !string.Equals(Database, that.Database, StringComparison.Ordinal)))
        {
            return OffsetOrder.Diverged;
        }

        var order = Lsn.CompareTo(that.Lsn);
        return order < 0 ? OffsetOrder.Before : order > 0 ? OffsetOrder.After : OffsetOrder.Same;

        static bool BothKnownAndDiffer<T>(T? a, T? b)
            where T : struct, IEquatable<T> =>
            a.HasValue && b.HasValue && !a.GetValueOrDefault().Equals(b.GetValueOrDefault());
    }

    /// <inheritdoc />
    public override void WriteJson(Utf8JsonWriter writer)
    {
        ArgumentNullException.ThrowIfNull(writer);
        var json = new PostgresOffsetJson
        {
            Lsn = FormatLsn(Lsn),
            SlotName = SlotName,
            SystemIdentifier = SystemIdentifier?.ToString(CultureInfo.InvariantCulture),
            Timeline = Timeline,
            Database = Database,
        };
        JsonSerializer.Serialize(writer, json, PostgresJsonContext.Default.PostgresOffsetJson);
    }

    /// <summary>The human form: <c>slot=my_slot lsn=0/16B3748 system=7299… tli=1 db=app</c>, unknown parts left out.</summary>
    /// <returns>The human form; a snapshot offset starts with <c>postgres_snapshot</c>.</returns>
    public override string ToString()
    {
        var text = new StringBuilder();
        if (!string.Equals(SourceType, StreamingSourceType, StringComparison.Ordinal))
        {
            text.Append(SourceType).Append(' ');
        }

        text.Append("slot=").Append(SlotName).Append(" lsn=").Append(FormatLsn(Lsn));
        if (SystemIdentifier is { } system)
        {
            text.Append(CultureInfo.InvariantCulture, $" system={system}");
        }

        if (Timeline is { } timeline)
        {
            text.Append(CultureInfo.InvariantCulture, $" tli={timeline}");
        }

        if (Database is not null)
        {
            text.Append(" db=").Append(Database);
        }

        return text.ToString();
    }

    internal static bool IsPostgresSourceType(string? sourceType) =>
        SourceTypeName.IsValid(sourceType)
        && string.Equals(SourceTypeName.FamilyOf(sourceType!), StreamingSourceType, StringComparison.Ordinal);

    internal static bool IsValidDatabaseName(string database) =>
        database.Length > 0
        && !database.Contains('\0', StringComparison.Ordinal)
        && Encoding.UTF8.GetByteCount(database) <= MaxDatabaseNameBytes;

    private static string ValidateSourceType(string sourceType)
    {
        ArgumentNullException.ThrowIfNull(sourceType);
        if (!IsPostgresSourceType(sourceType))
        {
            throw new ArgumentException(
                $"Source type '{sourceType}' is not of the PostgreSQL family: use '{StreamingSourceType}' or '{SnapshotSourceType}'.",
                nameof(sourceType));
        }

        return sourceType;
    }
}
