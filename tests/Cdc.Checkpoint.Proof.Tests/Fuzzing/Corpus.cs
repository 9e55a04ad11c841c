using System.Collections.Immutable;
using System.Globalization;
using System.Text;
using System.Text.Json;
using Cdc.Checkpoint.Cursors;
using Cdc.Checkpoint.Files;
using Cdc.Checkpoint.Leasing;
using Cdc.Checkpoint.Manifests;
using Cdc.Checkpoint.MySql;
using Cdc.Checkpoint.MySql.Gtid;
using Cdc.Checkpoint.Offsets;
using Cdc.Checkpoint.Postgres;
using Cdc.Checkpoint.Streaming;
using FsCheck;
using FsCheck.Fluent;
using NpgsqlTypes;

namespace Cdc.Checkpoint.Proof.Tests.Fuzzing;

/// <summary>Generators of valid inputs (the seeds the mutator edits) and the dictionaries of each format.</summary>
public static class Corpus
{
    public const string CursorId = "orders";
    public const string CursorIdentity = "consumer-a";

    private static readonly string[] Uuids =
    [
        "3e11fa47-71ca-11e1-9e33-c80aa9429562",
        "00000000-0000-0000-0000-000000000001",
        "ffffffff-ffff-ffff-ffff-ffffffffffff",
        "A1B2C3D4-0000-4000-8000-00000000000A",
    ];

    public static Gen<ulong> U64 { get; } = Gen.Frequency(
        (1, Gen.Elements<ulong>(0UL, 1UL, 2UL, 0xFFFFFFFFUL, 0x1_0000_0000UL, long.MaxValue, ulong.MaxValue)),
        (4, from hi in Gen.Choose(0, int.MaxValue) from lo in Gen.Choose(0, int.MaxValue) select ((ulong)(uint)hi << 32) | (uint)lo),
        (3, Gen.Choose(0, 1000).Select(v => (ulong)v)));

    private static Gen<string> Name(string alphabet, int min, int max) =>
        from length in Gen.Choose(min, max)
        from chars in Gen.ArrayOf(Gen.Elements(alphabet.ToCharArray()), length)
        select new string(chars);

    // ---------------------------------------------------------------- offsets

    public static Gen<PostgresOffset> PostgresOffsets { get; } =
        from lsn in U64
        from slot in Name("abcdefghijklmnopqrstuvwxyz0123456789_", 1, 63)
        from system in Gen.OneOf(Gen.Constant<ulong?>(null), U64.Where(v => v != 0).Select(v => (ulong?)v))
        from timeline in Gen.OneOf(Gen.Constant<uint?>(null), Gen.Choose(1, int.MaxValue).Select(v => (uint?)v))
        from database in Gen.OneOf(Gen.Constant<string?>(null), Name("abcXYZ09_- .\"'\\/é€日", 1, 20).Select(d => (string?)d))
        from sourceType in Gen.Elements(PostgresOffset.StreamingSourceType, PostgresOffset.SnapshotSourceType)
        select new PostgresOffset(new NpgsqlLogSequenceNumber(lsn), slot, system, timeline, database, sourceType);

    public static Gen<string> GtidSetTexts { get; } =
        from count in Gen.Choose(0, 4)
        from elements in Gen.ArrayOf(
            from uuid in Gen.Elements(Uuids)
            from tag in Gen.Frequency((3, Gen.Constant("")), (1, Name("abcdefghijklmnopqrstuvwxyz_0123456789", 1, 32).Where(t => !char.IsAsciiDigit(t[0])).Select(t => ":" + t)))
            from intervals in Gen.Choose(1, 4).SelectMany(n => Gen.ArrayOf(
                from first in Gen.Frequency((4, Gen.Choose(1, 100000).Select(v => (long)v)), (1, Gen.Elements(1L, GtidSet.MaxTransactionNumber - 5, GtidSet.MaxTransactionNumber)))
                from span in Gen.Choose(0, 1000)
                select span == 0 || first > GtidSet.MaxTransactionNumber - span ? first.ToString(CultureInfo.InvariantCulture) : $"{first}-{first + span}",
                n))
            select uuid + tag + ":" + string.Join(':', intervals),
            count)
        select string.Join(',', elements);

    public static Gen<GtidSet> GtidSets { get; } = GtidSetTexts.Select(GtidSet.Parse);

    public static Gen<string> MariaDbPositionTexts { get; } =
        from count in Gen.Choose(0, 5)
        from domains in Gen.ArrayOf(Gen.Choose(0, 1000), count)
        from gtids in Gen.ArrayOf(
            from server in Gen.Frequency((4, Gen.Choose(0, 10000).Select(v => (long)v)), (1, Gen.Constant((long)uint.MaxValue)))
            from seq in U64
            select (server, seq),
            count)
        select string.Join(',', domains.Distinct().Zip(gtids, (d, g) => $"{d}-{g.server}-{g.seq}"));

    public static Gen<string> BinlogTexts { get; } =
        from name in Gen.Elements("mysql-bin", "binlog", "mariadb-bin", "host-relay-bin", "a")
        from sequence in Gen.Frequency((4, Gen.Choose(1, 999999)), (1, Gen.Elements(0, int.MaxValue)))
        from digits in Gen.Choose(6, 10)
        from position in U64
        select $"{name}.{sequence.ToString(CultureInfo.InvariantCulture).PadLeft(digits, '0')}:{position}";

    public static Gen<string> LsnTexts { get; } =
        from value in U64
        from lower in Gen.Elements(false, true)
        from pad in Gen.Elements(false, true)
        select Lsn(value, lower, pad);

    private static string Lsn(ulong value, bool lower, bool pad)
    {
        var format = (lower ? "x" : "X") + (pad ? "8" : "");
        return ((uint)(value >> 32)).ToString(format, CultureInfo.InvariantCulture) + "/" + ((uint)value).ToString(format, CultureInfo.InvariantCulture);
    }

    public static Gen<MySqlOffset> MySqlOffsets { get; } =
        from gtids in Gen.OneOf(Gen.Constant<GtidSet?>(null), GtidSets.Select(g => (GtidSet?)g))
        from binlog in Gen.OneOf(Gen.Constant<BinlogPosition?>(null), BinlogTexts.Select(t => (BinlogPosition?)BinlogPosition.Parse(t)))
        from uuid in Gen.OneOf(Gen.Constant<Guid?>(null), Gen.Elements(Uuids).Select(u => (Guid?)Guid.Parse(u)).Where(g => g != Guid.Empty))
        from serverId in Gen.OneOf(Gen.Constant<uint?>(null), Gen.Choose(0, int.MaxValue).Select(v => (uint?)v))
        from skipEvents in U64
        from skipRows in U64
        where gtids is not null || binlog is not null
        select new MySqlOffset(gtids, binlog, uuid, serverId, skipEvents, skipRows);

    public static Gen<MariaDbOffset> MariaDbOffsets { get; } =
        from position in Gen.OneOf(Gen.Constant<MariaDbGtidPosition?>(null), MariaDbPositionTexts.Select(t => (MariaDbGtidPosition?)MariaDbGtidPosition.Parse(t)))
        from binlog in Gen.OneOf(Gen.Constant<BinlogPosition?>(null), BinlogTexts.Select(t => (BinlogPosition?)BinlogPosition.Parse(t)))
        from serverId in Gen.OneOf(Gen.Constant<uint?>(null), Gen.Choose(0, int.MaxValue).Select(v => (uint?)v))
        from skipEvents in U64
        from skipRows in U64
        where position is not null || binlog is not null
        select new MariaDbOffset(position, binlog, serverId, skipEvents, skipRows);

    public static Gen<CheckpointOffset> GenericOffsets { get; } =
        from source in Gen.Elements("kafka", "sqlserver", "mongo_snapshot")
        from json in Gen.Elements("{}", """{"a":1}""", """{"partition":3,"offset":18446744073709551615,"topic":"x"}""", """{"list":[1,2,{"x":null}]}""")
        select (CheckpointOffset)GenericOffset.Parse(source, json);

    public static Gen<CheckpointOffset> Offsets { get; } = Gen.OneOf(
        PostgresOffsets.Select(o => (CheckpointOffset)o),
        MySqlOffsets.Select(o => (CheckpointOffset)o),
        MariaDbOffsets.Select(o => (CheckpointOffset)o),
        GenericOffsets);

    public static OffsetCodecRegistry Codecs { get; } = OffsetCodecRegistry.Empty.WithPostgres().WithMySql();

    // ---------------------------------------------------------------- files

    /// <summary>Record files of the current format and of the rustcdc v1 format.</summary>
    public static Gen<byte[]> Records { get; } = Gen.Frequency(
        (4, from offset in Offsets
            from count in U64
            from sequence in U64
            from savedAt in Gen.Elements<DateTimeOffset?>(null, DateTimeOffset.UnixEpoch, new DateTimeOffset(2026, 11, 21, 12, 0, 0, TimeSpan.Zero), DateTimeOffset.MaxValue.ToUniversalTime())
            select CheckpointRecordFile.Serialize(new CheckpointRecord(offset.SourceType, count, offset) { FormatVersion = 2, Sequence = sequence, SavedAt = savedAt })),
        (1, from source in Gen.Elements("postgres", "postgres_snapshot", "mysql", "mariadb")
            from count in U64
            from lsn in U64
            from gtid in GtidSetTexts
            from maria in MariaDbPositionTexts
            select Encoding.UTF8.GetBytes(source switch
            {
                "mysql" => $$$"""{"checkpoint_format_version":1,"source_type":"mysql","committed_event_count":{{{count}}},"offset":{"gtid":"{{{gtid}}}","binlog_file":"mysql-bin.000003","binlog_pos":154}}""",
                "mariadb" => $$$"""{"checkpoint_format_version":1,"source_type":"mariadb","committed_event_count":{{{count}}},"offset":{"gtid":"{{{maria}}}"}}""",
                _ => $$$"""{"checkpoint_format_version":1,"source_type":"{{{source}}}","committed_event_count":{{{count}}},"offset":{"lsn":{{{lsn}}},"slot_name":"rustcdc_slot"}}""",
            })));

    public static Gen<byte[]> LeaseFiles { get; } =
        from host in Name("abcdefghijklmnopqrstuvwxyz0123456789-.", 1, 64)
        from pid in Gen.Choose(1, int.MaxValue)
        from start in U64
        from epoch in Gen.Frequency((4, Gen.Choose(1, 100000).Select(v => (long)v)), (1, Gen.Elements(long.MaxValue, 0L)))
        from at in Gen.Elements(DateTimeOffset.UnixEpoch, new DateTimeOffset(2026, 11, 21, 23, 47, 31, TimeSpan.Zero), new DateTimeOffset(2026, 1, 1, 0, 0, 0, TimeSpan.FromHours(5)))
        select new LeaseInfo(host, pid, start, at, epoch).ToJsonBytes();

    private static readonly string[] NamePieces = ["a", "b", "Z", "0", "_", "-", "ü", "€", "日", "😀"];

    private static readonly Gen<string> SnapshotName = Gen.Choose(1, 6).SelectMany(n => Gen.ArrayOf(Gen.Elements(NamePieces), n)).Select(string.Concat);

    private static Gen<KeyValuePair<string, T>[]> Map<T>(Gen<T> values) =>
        from count in Gen.Choose(0, 6)
        from pairs in Gen.ArrayOf(Gen.Zip(SnapshotName, values), count)
        select pairs.DistinctBy(p => p.Item1, StringComparer.Ordinal).Select(p => new KeyValuePair<string, T>(p.Item1, p.Item2)).ToArray();

    public static Gen<byte[]> Snapshots { get; } =
        from id in U64
        from epoch in U64
        from createdAt in Gen.Choose(0, int.MaxValue).Select(x => (long)x * 1000)
        from sources in Map(U64)
        from sinks in Map(U64)
        from watermarks in Map(U64.Select(v => (long)v))
        from states in Map(Gen.Choose(0, 40).SelectMany(n => Gen.ArrayOf(Gen.Choose(0, 255).Select(b => (byte)b), n)))
        select StreamSnapshotCodec.Encode(new StreamCheckpoint(id, epoch, createdAt, sources, sinks, watermarks, states));

    private static Gen<ImmutableSortedDictionary<string, T>> SortedMap<T>(Gen<T> values) =>
        from count in Gen.Choose(0, 3)
        from pairs in Gen.ArrayOf(Gen.Zip(Name("abcdefghij_-./ 日", 1, 12), values), count)
        select pairs.DistinctBy(p => p.Item1, StringComparer.Ordinal).ToImmutableSortedDictionary(p => p.Item1, p => p.Item2, StringComparer.Ordinal);

    public static Gen<byte[]> Manifests { get; } =
        from id in U64.Where(v => v != 0)
        from epoch in U64.Where(v => v != 0)
        from sources in SortedMap(from o in Offsets from c in U64 select new SourcePosition(o, c))
        from sinkEpochs in SortedMap(U64)
        from statuses in SortedMap(Gen.Elements(SinkCommitStatus.Pending, SinkCommitStatus.Committed, SinkCommitStatus.Failed("disk full"), SinkCommitStatus.Failed("x")))
        from tables in SortedMap(Gen.OneOf(Offsets.Select(TableOffset.FromOffset), Name("abc:0123456789/", 1, 20).Select(TableOffset.FromText)))
        from inline in SortedMap(Gen.Choose(0, 30).SelectMany(n => Gen.ArrayOf(Gen.Choose(0, 255).Select(b => (byte)b), n)).Select(b => OperatorState.FromInline(b)))
        from sidecar in Gen.Elements(false, true)
        from watermark in Gen.OneOf(Gen.Constant<long?>(null), U64.Select(v => (long?)(long)v))
        select ManifestFormat.Serialize(new CheckpointManifest
        {
            CheckpointId = id,
            Epoch = epoch,
            CreatedAt = new DateTimeOffset(2026, 11, 21, 12, 0, 0, TimeSpan.Zero),
            SourceOffsets = sources,
            SinkEpochs = sinkEpochs,
            SinkCommitStatuses = statuses,
            TableOffsets = tables,
            OperatorStates = sidecar ? inline.Add("sidecar_op", OperatorState.InSidecar(0, 16)) : inline,
            StateSidecar = sidecar ? new StateSidecarInfo(new string('a', 64), 16) : null,
            Watermark = watermark,
        });

    public static Gen<byte[]> CursorFiles { get; } =
        from started in Gen.Elements(false, true)
        from position in U64
        from identity in Gen.Frequency((4, Gen.Constant(CursorIdentity)), (1, Gen.Constant("consumer-b")))
        from id in Gen.Frequency((4, Gen.Constant(CursorId)), (1, Gen.Constant("payments")))
        select CursorFileFormat.Encode(id, started ? CursorCheckpoint.At(position, identity) : CursorCheckpoint.NotStarted(identity));

    public static Gen<byte[]> Text(Gen<string> texts) => texts.Select(t => Encoding.UTF8.GetBytes(t));

    // ---------------------------------------------------------------- dictionaries

    private static readonly string[] JsonTokens =
    [
        "{", "}", "[", "]", ":", ",", "\"", "\\", "null", "true", "false", "0", "-0", "1", "-1", "2", "4294967295", "4294967296",
        "9223372036854775807", "9223372036854775808", "-9223372036854775809", "18446744073709551615", "18446744073709551616",
        "1e308", "1e309", "1.5", "0x10", "NaN", "\"\"", "\"\\u0000\"", "\"\\ud800\"", "\"\\uffff\"", "\"0/0\"", "\"FFFFFFFF/FFFFFFFF\"",
        "\"2026-11-21T12:00:00Z\"", "\"9999-12-31T23:59:59.9999999Z\"", "[[[[[[[[", "]]]]]]]]", "{\"a\":{\"a\":{\"a\":", "/*", "*/", "//", "\u00e9", "\ufeff",
    ];

    /// <summary>The JSON dictionary for a format: the common tokens plus every property name of a sample of valid files, quoted.</summary>
    public static string[] JsonDictionary(Gen<byte[]> valid)
    {
        var names = new SortedSet<string>(StringComparer.Ordinal);
        foreach (var sample in valid.Sample(30, 200))
        {
            using var document = JsonDocument.Parse(sample);
            Collect(document.RootElement, names);
        }

        return [.. JsonTokens, .. names.SelectMany(n => new[] { $"\"{n}\"", $"\"{n}\":" })];

        static void Collect(JsonElement element, SortedSet<string> names)
        {
            if (element.ValueKind == JsonValueKind.Object)
            {
                foreach (var property in element.EnumerateObject())
                {
                    names.Add(property.Name);
                    Collect(property.Value, names);
                }
            }
            else if (element.ValueKind == JsonValueKind.Array)
            {
                foreach (var item in element.EnumerateArray())
                {
                    Collect(item, names);
                }
            }
        }
    }

    /// <summary>Random JSON documents built from a format's property names and edge-case values (type confusion at every field).</summary>
    public static Gen<FuzzCase> JsonDocuments(string[] dictionary)
    {
        var keys = dictionary.Where(t => t.Length > 2 && t[0] == '"' && t[^1] == '"').ToArray();
        var scalars = JsonTokens.Where(t => t is not ("{" or "}" or "[" or "]" or ":" or "," or "\"" or "\\" or "/*" or "*/" or "//") && !t.StartsWith('[') && !t.StartsWith(']') && !t.StartsWith('{')).Concat(keys).ToArray();
        return Gen.Sized(size => Value(Math.Min(4, 1 + (size / 40)))).Select(json => new FuzzCase(Encoding.UTF8.GetBytes(json), "generated JSON"));

        Gen<string> Value(int depth) => depth == 0
            ? Gen.Elements(scalars)
            : Gen.Frequency(
                (3, Gen.Elements(scalars)),
                (1, from n in Gen.Choose(0, 4) from items in Gen.ArrayOf(Value(depth - 1), n) select "[" + string.Join(',', items) + "]"),
                (3, from n in Gen.Choose(0, 8)
                    from members in Gen.ArrayOf(from k in Gen.Elements(keys) from v in Value(depth - 1) select k + ":" + v, n)
                    select "{" + string.Join(',', members) + "}"));
    }

    public static string[] SnapshotDictionary { get; } = ["\u0002", "\u0000\u0000\u0000\u0000", "\u0001\u0000\u0000\u0000", "\u00ff\u00ff\u00ff\u00ff", "\u00c3", "\u00f0\u009f", "a"];

    public static string[] GtidDictionary { get; } =
        [.. Uuids, ":", "-", ",", " ", "\t", "\n", "0", "1", "9223372036854775806", "9223372036854775807", "9223372036854775808", "18446744073709551616", "tag", "_t", "A", "3e11fa47-71ca-11e1-9e33-c80aa942956", "{", "}", "+", "٣"];

    public static string[] MariaDbDictionary { get; } = ["-", ",", " ", "0", "1", "4294967295", "4294967296", "18446744073709551615", "18446744073709551616", "+", "٣", "0-1-2"];

    public static string[] BinlogDictionary { get; } = [":", ".", "/", "..", "000001", "18446744073709551615", "18446744073709551616", "-1", " ", "\0", "٣", "mysql-bin"];

    public static string[] LsnDictionary { get; } = ["/", "0", "F", "f", "G", "FFFFFFFF", "100000000", " ", "+", "-", "0x", "٣"];
}
