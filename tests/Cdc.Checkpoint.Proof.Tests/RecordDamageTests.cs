using System.Collections.Immutable;
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
using Cdc.Checkpoint.Proof.Tests.Fuzzing;
using Cdc.Checkpoint.Proof.Tests.Support;
using NpgsqlTypes;
using Shouldly;
using Xunit;

namespace Cdc.Checkpoint.Proof.Tests;

/// <summary>
/// Every truncation and every single-bit flip of records the library has just written (format version 3, CRC-32C),
/// and a repeated member in every JSON format the library reads: nothing may load with a changed value.
/// </summary>
/// <remarks>
/// The records are saved by <see cref="FileCheckpoint"/> into a real directory and read back as bytes; each variant is
/// parsed by <see cref="CheckpointRecordFile.Parse"/>, the one reader behind every load and every CLI verb. The same
/// campaign on the version 2 form of the same records (no checksum) is run alongside and reported, to show what the
/// checksum closes; it is not asserted on, version 2 is read as it always was.
/// </remarks>
public sealed class RecordDamageTests(ITestOutputHelper output) : IDisposable
{
    private readonly TempDirectory _dir = new();

    public void Dispose() => _dir.Dispose();

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private static readonly CheckpointOffset[] Offsets =
    [
        new PostgresOffset(NpgsqlLogSequenceNumber.Parse("0/16B3F20"), "orders_slot", 7311234567890123456, 1, "app"),
        new MySqlOffset(GtidSet.Parse("3e11fa47-71ca-11e1-9e33-c80aa9429562:1-1842"), BinlogPosition.Parse("mysql-bin.000003:1574")),
        new MariaDbOffset(MariaDbGtidPosition.Parse("0-1-1842,1-2-5"), BinlogPosition.Parse("mariadb-bin.000002:330")),
        GenericOffset.Parse("kafka", """{"topic":"orders","partition":3,"offset":1842}"""),
    ];

    private async Task<(string Path, byte[] Bytes)> WrittenByLibraryAsync(CheckpointOffset offset)
    {
        var directory = Path.Combine(_dir.Path, offset.SourceType);
        var checkpoint = new FileCheckpoint(directory, new FileCheckpointOptions { CreateDirectory = true, Codecs = Corpus.Codecs });
        await using (checkpoint)
        {
            await checkpoint.SaveAsync(offset, 1842, Ct);
        }

        var path = Path.Combine(directory, CheckpointRecordFile.FileNameFor(offset.SourceType));
        return (path, await File.ReadAllBytesAsync(path, Ct));
    }

    private enum Outcome
    {
        Identical,
        Refused,
        Changed,
    }

    private static Outcome Load(byte[] variant, string path, CheckpointRecord original)
    {
        CheckpointRecord loaded;
        try
        {
            loaded = CheckpointRecordFile.Parse(variant, path, Corpus.Codecs);
        }
        catch (CheckpointException ex) when (ex.ErrorCode is CheckpointErrorCode.Corrupt or CheckpointErrorCode.UnsupportedFormatVersion)
        {
            return Outcome.Refused;
        }

        return loaded.SourceType == original.SourceType
               && loaded.CommittedEventCount == original.CommittedEventCount
               && loaded.Sequence == original.Sequence
               && loaded.SavedAt == original.SavedAt
               && loaded.Offset.GetType() == original.Offset.GetType()
               && loaded.Offset.ToJsonString() == original.Offset.ToJsonString()
            ? Outcome.Identical
            : Outcome.Changed;
    }

    /// <summary>Runs every truncation and every single-bit flip of <paramref name="bytes"/>; counts per outcome.</summary>
    private static Dictionary<(string Kind, Outcome Outcome), int> Campaign(byte[] bytes, string path, List<string> changed)
    {
        var original = CheckpointRecordFile.Parse(bytes, path, Corpus.Codecs);
        var counts = new Dictionary<(string, Outcome), int>();
        void Count(string kind, Outcome outcome, Func<string> describe)
        {
            counts[(kind, outcome)] = counts.GetValueOrDefault((kind, outcome)) + 1;
            if (outcome == Outcome.Changed)
            {
                changed.Add(describe());
            }
        }

        for (var length = 0; length < bytes.Length; length++)
        {
            Count("truncation", Load(bytes[..length], path, original), () => $"{Path.GetFileName(path)} truncated to {length} bytes");
        }

        for (var at = 0; at < bytes.Length; at++)
        {
            for (var bit = 0; bit < 8; bit++)
            {
                var variant = (byte[])bytes.Clone();
                variant[at] ^= (byte)(1 << bit);
                Count("bit flip", Load(variant, path, original), () => $"{Path.GetFileName(path)} byte {at} bit {bit} ('{(char)bytes[at]}' -> '{(char)variant[at]}')");
            }
        }

        return counts;
    }

    /// <summary>The version 2 form of a version 3 record: the same bytes without the checksum member.</summary>
    private static byte[] AsVersion2(byte[] v3)
    {
        var text = Encoding.UTF8.GetString(v3);
        var crc = CheckpointRecordFile.StoredChecksum(v3).ShouldNotBeNull();
        return Encoding.UTF8.GetBytes(text
            .Replace($",\n  \"crc32c\": \"{crc}\"", string.Empty, StringComparison.Ordinal)
            .Replace("\"checkpoint_format_version\": 3", "\"checkpoint_format_version\": 2", StringComparison.Ordinal));
    }

    [Fact]
    public async Task RecordV3_EveryTruncationAndEveryBitFlip_NeverLoadsAChangedValue()
    {
        var changedV3 = new List<string>();
        var changedV2 = new List<string>();
        int v3Variants = 0, v3Refused = 0, v3Identical = 0, v2Variants = 0, v2Changed = 0;
        foreach (var offset in Offsets)
        {
            var (path, bytes) = await WrittenByLibraryAsync(offset);
            var v3 = Campaign(bytes, path, changedV3);
            var v2 = Campaign(AsVersion2(bytes), path, changedV2);
            output.WriteLine($"{offset.SourceType}: {bytes.Length} bytes; v3 {Describe(v3)}; v2 (no checksum) {Describe(v2)}");
            v3Variants += v3.Values.Sum();
            v3Refused += v3.Where(e => e.Key.Outcome == Outcome.Refused).Sum(e => e.Value);
            v3Identical += v3.Where(e => e.Key.Outcome == Outcome.Identical).Sum(e => e.Value);
            v2Variants += v2.Values.Sum();
            v2Changed += v2.Where(e => e.Key.Outcome == Outcome.Changed).Sum(e => e.Value);
        }

        output.WriteLine($"v3: {v3Variants} variants, {v3Refused} refused (typed), {v3Identical} loaded identical, {changedV3.Count} loaded a changed value");
        output.WriteLine($"v2 form of the same records: {v2Variants} variants, {v2Changed} loaded a changed value, e.g. {string.Join("; ", changedV2.Take(3))}");
        changedV3.ShouldBeEmpty();
        v3Refused.ShouldBeGreaterThan(0);
        v2Changed.ShouldBeGreaterThan(0, "the v2 control must show the damage a checksum is there to catch");
    }

    private static string Describe(Dictionary<(string Kind, Outcome Outcome), int> counts) =>
        string.Join(", ", counts.OrderBy(e => e.Key.Kind, StringComparer.Ordinal).ThenBy(e => e.Key.Outcome).Select(e => $"{e.Key.Kind} {e.Key.Outcome.ToString().ToLowerInvariant()} {e.Value}"));

    /// <summary>Every top-level member of <paramref name="json"/> repeated once, first with its own value, then with another value.</summary>
    private static IEnumerable<(string Member, byte[] Bytes)> WithEachMemberRepeated(byte[] json)
    {
        using var document = JsonDocument.Parse(json);
        var text = Encoding.UTF8.GetString(json);
        var open = text.IndexOf('{', StringComparison.Ordinal) + 1;
        foreach (var property in document.RootElement.EnumerateObject())
        {
            var same = $"\"{property.Name}\":{property.Value.GetRawText()},";
            var other = $"\"{property.Name}\":{(property.Value.ValueKind == JsonValueKind.Number ? "\"x\"" : "1")},";
            yield return ($"{property.Name} (same value)", Encoding.UTF8.GetBytes(text.Insert(open, same)));
            yield return ($"{property.Name} (other value)", Encoding.UTF8.GetBytes(text.Insert(open, other)));
        }
    }

    [Fact]
    public async Task RepeatedMember_InEveryJsonFormat_IsRefused()
    {
        var refused = 0;
        foreach (var offset in Offsets)
        {
            var (path, bytes) = await WrittenByLibraryAsync(offset);
            foreach (var (member, variant) in WithEachMemberRepeated(bytes))
            {
                var ex = Should.Throw<CheckpointException>(() => CheckpointRecordFile.Parse(variant, path, Corpus.Codecs), $"record {offset.SourceType}, {member}");
                ex.ErrorCode.ShouldBe(CheckpointErrorCode.Corrupt);
                refused++;
            }

            // A repeated member inside the offset, at the second level, for typed and opaque offsets alike.
            var offsetJson = offset.ToJsonString();
            var repeatedInside = offsetJson.Insert(1, offsetJson[1..offsetJson.IndexOf(',', StringComparison.Ordinal)] + ",");
            var record = $$"""{"checkpoint_format_version":2,"source_type":"{{offset.SourceType}}","committed_event_count":1842,"sequence":1,"offset":{{repeatedInside}}}""";
            Should.Throw<CheckpointException>(() => CheckpointRecordFile.Parse(Encoding.UTF8.GetBytes(record), path, Corpus.Codecs)).ErrorCode.ShouldBe(CheckpointErrorCode.Corrupt);
            Should.Throw<FormatException>(() => Corpus.Codecs.Read(offset.SourceType, GenericOffset.Parse(offset.SourceType, repeatedInside).Value, FileCheckpoint.CurrentFormatVersion));
            refused += 2;
        }

        var lease = new LeaseInfo("worker-3", 4242, 81234567, DateTimeOffset.UnixEpoch, 7).ToJsonBytes();
        LeaseInfo.TryParse(lease).ShouldNotBeNull();
        foreach (var (member, variant) in WithEachMemberRepeated(lease))
        {
            LeaseInfo.TryParse(variant).ShouldBeNull($"lease file, {member}");
            refused++;
        }

        var cursor = CursorFileFormat.Encode(Corpus.CursorId, CursorCheckpoint.At(1842, Corpus.CursorIdentity));
        foreach (var (member, variant) in WithEachMemberRepeated(cursor))
        {
            Should.Throw<CheckpointException>(() => CursorFileFormat.Decode(variant, "/proof/orders.cursor.json", Corpus.CursorId, Corpus.CursorIdentity), $"cursor, {member}")
                .ErrorCode.ShouldBe(CheckpointErrorCode.Corrupt);
            refused++;
        }

        var manifest = ManifestFormat.Serialize(new CheckpointManifest
        {
            CheckpointId = 7,
            Epoch = 2,
            CreatedAt = new DateTimeOffset(2026, 11, 21, 12, 0, 0, TimeSpan.Zero),
            SourceOffsets = new Dictionary<string, SourcePosition> { ["orders"] = new(Offsets[0], 1842) }.ToImmutableSortedDictionary(StringComparer.Ordinal),
        });
        foreach (var (member, variant) in WithEachMemberRepeated(manifest))
        {
            Should.Throw<CheckpointException>(() => ManifestFormat.Parse(variant, "/proof/manifest.json", Corpus.Codecs), $"manifest, {member}")
                .ErrorCode.ShouldBe(CheckpointErrorCode.Corrupt);
            refused++;
        }

        output.WriteLine($"{refused} documents with a repeated member (records v3 and v2 of four offset kinds, offsets, lease, cursor, manifest): all refused");
    }
}
