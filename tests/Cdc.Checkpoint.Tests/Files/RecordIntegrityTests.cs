using System.Text;
using Cdc.Checkpoint.Files;
using Cdc.Checkpoint.Leasing;
using Cdc.Checkpoint.Offsets;
using Cdc.Checkpoint.Postgres;
using NpgsqlTypes;
using Shouldly;
using Xunit;

namespace Cdc.Checkpoint.Tests.Files;

/// <summary>Record format version 3 (CRC-32C) and the refusal of repeated JSON members in every format we parse.</summary>
public sealed class RecordIntegrityTests : IDisposable
{
    private const string RecordName = "checkpoint_postgres.json";
    private readonly TempDirectory _dir = new();

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private static FileCheckpointOptions Options => new() { Codecs = OffsetCodecRegistry.Empty.WithPostgres() };

    public void Dispose() => _dir.Dispose();

    private async Task<byte[]> SaveAsync()
    {
        using (var checkpoint = new FileCheckpoint(_dir.Path, Options))
        {
            await checkpoint.SaveAsync(new PostgresOffset(NpgsqlLogSequenceNumber.Parse("0/16B3F20"), "orders_slot", 7311234567890123456, 1), 1842, Ct);
        }

        return await File.ReadAllBytesAsync(_dir.File(RecordName), Ct);
    }

    private async Task<CheckpointException> LoadRefusedAsync(string text)
    {
        _dir.Write(RecordName, text);
        using var checkpoint = new FileCheckpoint(_dir.Path, Options);
        return await Should.ThrowAsync<CheckpointException>(async () => await checkpoint.LoadAsync("postgres", Ct));
    }

    [Fact]
    public async Task Load_V3CountChangedButJsonStillValid_RefusedAsCorruptByChecksum()
    {
        // The audit's case: "1842" -> "3842" is one flipped bit (0x31 -> 0x33) and leaves valid JSON.
        var text = Encoding.UTF8.GetString(await SaveAsync());
        text.ShouldContain("\"committed_event_count\": 1842");
        var ex = await LoadRefusedAsync(text.Replace("\"committed_event_count\": 1842", "\"committed_event_count\": 3842", StringComparison.Ordinal));
        ex.ErrorCode.ShouldBe(CheckpointErrorCode.Corrupt);
        ex.Message.ShouldContain("CRC-32C");
        ex.Message.ShouldContain(RecordName);
    }

    [Fact]
    public async Task Load_V3VersionDigitFlippedTo2Or1_RefusedBecauseOnlyV3CarriesAChecksum()
    {
        var text = Encoding.UTF8.GetString(await SaveAsync());
        foreach (var version in new[] { "2", "1" })
        {
            var ex = await LoadRefusedAsync(text.Replace("\"checkpoint_format_version\": 3", $"\"checkpoint_format_version\": {version}", StringComparison.Ordinal));
            ex.ErrorCode.ShouldBe(CheckpointErrorCode.Corrupt);
            ex.Message.ShouldContain("its version was damaged");
        }
    }

    [Theory]
    [InlineData("missing")]
    [InlineData("upper")]
    [InlineData("short")]
    [InlineData("number")]
    public async Task Load_V3ChecksumMissingOrMalformed_RefusedAsCorrupt(string damage)
    {
        var text = Encoding.UTF8.GetString(await SaveAsync());
        var crc = CheckpointRecordFile.StoredChecksum(Encoding.UTF8.GetBytes(text)).ShouldNotBeNull();
        var member = $",\n  \"crc32c\": \"{crc}\"";
        text.ShouldContain(member);
        var damaged = damage switch
        {
            "missing" => text.Replace(member, string.Empty, StringComparison.Ordinal),
            "upper" => WithUppercaseChecksum(text, crc),
            "short" => text.Replace(crc, crc[..7], StringComparison.Ordinal),
            _ => text.Replace($"\"{crc}\"", "12345678", StringComparison.Ordinal),
        };
        (await LoadRefusedAsync(damaged)).ErrorCode.ShouldBe(CheckpointErrorCode.Corrupt);
    }

    /// <summary>
    /// The record with a correct checksum written in uppercase. An all-digit checksum has no uppercase form, so the count
    /// is moved until the record's checksum has a letter (about 1 record in 40 has none): the damage is always the case.
    /// </summary>
    private static string WithUppercaseChecksum(string text, string crc)
    {
        const string Count = "\"committed_event_count\": 1842";
        text.ShouldContain(Count);
        for (var count = 1842; ; count++)
        {
            var zeroed = text.Replace(Count, $"\"committed_event_count\": {count}", StringComparison.Ordinal).Replace(crc, "00000000", StringComparison.Ordinal);
            var sum = Cdc.Checkpoint.Streaming.Crc32C.Compute(Encoding.UTF8.GetBytes(zeroed)).ToString("x8", System.Globalization.CultureInfo.InvariantCulture);
            if (sum.Any(char.IsAsciiLetterLower))
            {
                return zeroed.Replace("00000000", sum.ToUpperInvariant(), StringComparison.Ordinal);
            }
        }
    }

    [Fact]
    public async Task Save_WritesV3WhoseChecksumCoversTheWholeFile()
    {
        var bytes = await SaveAsync();
        var text = Encoding.UTF8.GetString(bytes);
        text.ShouldStartWith("{\n  \"checkpoint_format_version\": 3,");
        text.ShouldEndWith("\"\n}\n");
        var crc = CheckpointRecordFile.StoredChecksum(bytes).ShouldNotBeNull();
        crc.Length.ShouldBe(8);
        var zeroed = Encoding.UTF8.GetBytes(text.Replace(crc, "00000000", StringComparison.Ordinal));
        Cdc.Checkpoint.Streaming.Crc32C.Compute(zeroed).ToString("x8", System.Globalization.CultureInfo.InvariantCulture).ShouldBe(crc);
    }

    [Fact]
    public async Task Load_V2RecordWithoutChecksum_StillReadable()
    {
        const string v2 = """{"checkpoint_format_version":2,"source_type":"postgres","committed_event_count":1842,"sequence":97,"offset":{"lsn":"0/16B3F20","slot_name":"orders_slot"}}""";
        _dir.Write(RecordName, v2);
        using var checkpoint = new FileCheckpoint(_dir.Path, Options);
        (await checkpoint.LoadAsync("postgres", Ct)).ShouldNotBeNull().CommittedEventCount.ShouldBe(1842UL);
    }

    [Theory]
    [InlineData("""{"checkpoint_format_version":99,"checkpoint_format_version":2,"source_type":"postgres","committed_event_count":1,"sequence":1,"offset":{"lsn":"0/1","slot_name":"s"}}""")]
    [InlineData("""{"checkpoint_format_version":2,"source_type":"postgres","committed_event_count":1,"committed_event_count":900,"sequence":1,"offset":{"lsn":"0/1","slot_name":"s"}}""")]
    [InlineData("""{"checkpoint_format_version":2,"source_type":"postgres","committed_event_count":1,"sequence":1,"offset":{"lsn":"0/1","lsn":"0/2","slot_name":"s"}}""")]
    [InlineData("""{"checkpoint_format_version":1,"source_type":"postgres","committed_event_count":1,"offset":{"lsn":1,"slot_name":"s"},"offset":{"lsn":2,"slot_name":"s"}}""")]
    public async Task Load_RecordWithRepeatedMember_RefusedAsCorrupt(string json)
    {
        var ex = await LoadRefusedAsync(json);
        ex.ErrorCode.ShouldBe(CheckpointErrorCode.Corrupt);
        ex.Message.ShouldContain("not valid JSON");
    }

    [Fact]
    public async Task Load_RecordWithRepeatedMemberInOpaqueOffset_RefusedAsCorrupt()
    {
        // Opaque offsets are not read by a codec: only the shared parser rules can catch this one.
        const string json = """{"checkpoint_format_version":2,"source_type":"custom","committed_event_count":1,"sequence":1,"offset":{"a":1,"a":2}}""";
        _dir.Write("checkpoint_custom.json", json);
        using var checkpoint = new FileCheckpoint(_dir.Path);
        (await Should.ThrowAsync<CheckpointException>(async () => await checkpoint.LoadAsync("custom", Ct))).ErrorCode.ShouldBe(CheckpointErrorCode.Corrupt);
    }

    [Fact]
    public void OffsetJson_RepeatedMember_RefusedByGenericAndTypedParsers()
    {
        Should.Throw<FormatException>(() => GenericOffset.Parse("custom", """{"a":1,"b":{"c":1,"c":2}}"""));
        Should.Throw<FormatException>(() => PostgresOffsetCodec.Parse("postgres", """{"lsn":"0/1","slot_name":"a","slot_name":"b"}"""));
    }

    [Fact]
    public void LeaseFile_RepeatedMember_IsNotALeaseRecord()
    {
        LeaseInfo.TryParse("""{"lease_format_version":1,"host":"h","pid":1,"epoch":7}"""u8).ShouldNotBeNull().Epoch.ShouldBe(7);
        LeaseInfo.TryParse("""{"lease_format_version":1,"host":"h","pid":1,"epoch":7,"epoch":1}"""u8).ShouldBeNull();
    }

    /// <summary>The JSON examples of docs/file-format.md, in the order they appear.</summary>
    internal static IReadOnlyList<string> DocumentedRecords()
    {
        var directory = new DirectoryInfo(AppContext.BaseDirectory);
        while (directory is not null && !File.Exists(Path.Combine(directory.FullName, "Cdc.sln")))
        {
            directory = directory.Parent;
        }

        var doc = File.ReadAllText(Path.Combine(directory.ShouldNotBeNull("the repository root (Cdc.sln) above the test binaries").FullName, "docs", "file-format.md"));
        return [.. System.Text.RegularExpressions.Regex.Matches(doc, "```json\n(.*?)```", System.Text.RegularExpressions.RegexOptions.Singleline)
            .Select(m => m.Groups[1].Value)
            .Where(text => text.Contains("checkpoint_format_version", StringComparison.Ordinal))];
    }

    [Fact]
    public void Docs_V3AndV2Examples_LoadAsDocumentedAndByte92OfV2IsTheCountsFirstDigit()
    {
        var examples = DocumentedRecords();
        var v3 = examples.Single(e => e.Contains("\"checkpoint_format_version\": 3", StringComparison.Ordinal));
        var v2 = examples.Single(e => e.Contains("\"checkpoint_format_version\": 2", StringComparison.Ordinal));
        foreach (var (text, version) in new[] { (v3, 3), (v2, 2) })
        {
            var record = CheckpointRecordFile.Parse(Encoding.UTF8.GetBytes(text), "/docs/" + RecordName, OffsetCodecRegistry.Empty.WithPostgres());
            record.FormatVersion.ShouldBe(version);
            record.CommittedEventCount.ShouldBe(1842UL);
            record.Offset.ShouldBe(new PostgresOffset(NpgsqlLogSequenceNumber.Parse("0/16B3F20"), "orders_slot", 7311234567890123456, 1));
        }

        var flipped = Encoding.UTF8.GetBytes(v2);
        flipped[92].ShouldBe((byte)'1');
        flipped[92] ^= 0x02;
        CheckpointRecordFile.Parse(flipped, "/docs/" + RecordName, OffsetCodecRegistry.Empty.WithPostgres()).CommittedEventCount.ShouldBe(3842UL, "version 2 has no checksum: this is why version 3 exists");
        var v3Flipped = Encoding.UTF8.GetBytes(v3.Replace("1842", "3842", StringComparison.Ordinal));
        Should.Throw<CheckpointException>(() => CheckpointRecordFile.Parse(v3Flipped, "/docs/" + RecordName, OffsetCodecRegistry.Empty.WithPostgres())).ErrorCode.ShouldBe(CheckpointErrorCode.Corrupt);
    }
}
